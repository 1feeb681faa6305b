# Backups, export/import (backup.hpp, export.hpp) and their commands.
stowage_test(backup_test backup_test.cpp TIMEOUT 300)
stowage_test(export_test export_test.cpp DATA TIMEOUT 300)
