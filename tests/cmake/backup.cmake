# Backups, export/import (backup.hpp, export.hpp) and their commands.
stowage_test(backup_test backup_test.cpp TIMEOUT 300)
stowage_test(export_test export_test.cpp DATA TIMEOUT 300)
if(STOWAGE_BUILD_TOOLS)
  stowage_test(cli_backup_test cli_backup_test.cpp DATA LABELS cli DEPENDS stowage_cli TIMEOUT 300)
  target_compile_definitions(cli_backup_test PRIVATE STOWAGE_CLI="$<TARGET_FILE:stowage_cli>")
endif()
