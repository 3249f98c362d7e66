# Proves that an installed envoi works from another project:
#   cmake -DENVOI_BUILD_DIR=<envoi's build tree> -DCONSUMER_SOURCE_DIR=<this folder>
#         -DWORK_DIR=<scratch folder> -P run.cmake
# installs envoi from ENVOI_BUILD_DIR into WORK_DIR/prefix, then configures, builds and runs
# the consumer project against that prefix. Any failure ends the script with an error.
cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS ENVOI_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${ENVOI_BUILD_DIR}/CMakeCache.txt")
  message(FATAL_ERROR "run.cmake: ${ENVOI_BUILD_DIR} is not a configured envoi build tree")
endif()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${prefix}" "${build}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Runs a command; stops with its output when it fails.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "run.cmake: ${what} failed (${status}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# Build the consumer the way envoi was built: same compiler, build type and flags (a
# sanitizer build of envoi needs the sanitizer runtime when the consumer links).
file(STRINGS "${ENVOI_BUILD_DIR}/CMakeCache.txt" cache
     REGEX "^(CMAKE_CXX_COMPILER|CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS|CMAKE_EXE_LINKER_FLAGS|CMAKE_GENERATOR):")
set(forwarded)
foreach(entry IN LISTS cache)
  if(entry MATCHES "^([A-Z_]+):[A-Z]+=(.*)$")
    if(CMAKE_MATCH_1 STREQUAL "CMAKE_GENERATOR")
      set(generator "${CMAKE_MATCH_2}")
    elseif(NOT CMAKE_MATCH_2 STREQUAL "")
      list(APPEND forwarded "-D${CMAKE_MATCH_1}=${CMAKE_MATCH_2}")
    endif()
  endif()
endforeach()
if(NOT generator)
  set(generator "Unix Makefiles")
endif()

run_step("install envoi into ${prefix}"
         "${CMAKE_COMMAND}" --install "${ENVOI_BUILD_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/include/envoi/message.hpp")
  message(FATAL_ERROR "run.cmake: the install put no include/envoi/message.hpp in ${prefix}")
endif()

run_step("configure the consumer"
         "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${generator}"
         "-DCMAKE_PREFIX_PATH=${prefix}" ${forwarded})
run_step("build the consumer" "${CMAKE_COMMAND}" --build "${build}")
run_step("run the consumer" "${build}/envoi_consumer")
message(STATUS "${step_output}")
