# The libraries envoi builds on, all from the distribution's packages.
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(OpenSSL 3 REQUIRED)
find_package(fmt REQUIRED)
find_package(tomlplusplus 3 REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(envoi_idn2 REQUIRED IMPORTED_TARGET libidn2)
