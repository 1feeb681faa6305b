# Backups, export/import (backup.hpp, export.hpp) and their commands.
stowage_test(backup_test backup_test.cpp COST 25 GROUP services TIMEOUT 300)
stowage_test(export_test export_test.cpp GROUP services DATA TIMEOUT 300)
if(STOWAGE_BUILD_TOOLS)
  stowage_test(cli_backup_test cli_backup_test.cpp COST 25 GROUP cli DATA LABELS cli DEPENDS stowage_cli TIMEOUT 300)
  # Issue 19 through the command: codecs on import, export beside an index
  # and a writer, input limits, messages and exit codes.
  stowage_test(cli_limits_test cli_limits_test.cpp GROUP cli LABELS cli DEPENDS stowage_cli TIMEOUT 300)
endif()
# `stowage repair` in-process (its table entry is in cli/backup_commands.hpp).
if(STOWAGE_BUILD_TOOLS)
  stowage_test(cli_repair_test cli_repair_test.cpp LABELS cli TIMEOUT 120)
  target_include_directories(cli_repair_test PRIVATE ${PROJECT_SOURCE_DIR}/tools)
endif()
stowage_test(migration_test migration_test.cpp COST 19 GROUP services TIMEOUT 300)
# Issue 20, point 6: export goes on past damaged records, leaves them out
# and reports them; the file still imports.
stowage_test(export_damage_test export_damage_test.cpp GROUP services)
