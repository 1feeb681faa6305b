# Backups, export/import (backup.hpp, export.hpp) and their commands.
stowage_test(backup_test backup_test.cpp TIMEOUT 300)
