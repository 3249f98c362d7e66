include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS envoi EXPORT envoi-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/envoi DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(ENVOI_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/envoi)
install(EXPORT envoi-targets NAMESPACE envoi:: DESTINATION ${ENVOI_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/envoi-config.cmake.in
                              ${PROJECT_BINARY_DIR}/envoi-config.cmake
                              INSTALL_DESTINATION ${ENVOI_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/envoi-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/envoi-config.cmake
              ${PROJECT_BINARY_DIR}/envoi-config-version.cmake
              ${PROJECT_SOURCE_DIR}/cmake/envoi-dependencies.cmake
        DESTINATION ${ENVOI_CMAKE_DIR})
