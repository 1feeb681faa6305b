# Maintenance jobs (maintenance.hpp) and the optional PNG -> WebP conversion
# (image/webp.hpp, only where stowage::webp exists).
stowage_test(maintenance_test maintenance_test.cpp GROUP services LABELS maintenance)
if(TARGET stowage::webp)
  stowage_test(webp_test webp_test.cpp LABELS maintenance)
  target_link_libraries(webp_test PRIVATE stowage::webp)
endif()
