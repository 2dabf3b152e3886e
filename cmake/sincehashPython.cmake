# sincehashPython.cmake — chooses the Python interpreter the module is built for and tested with,
# and finds pybind11 for it. Sets SINCEHASH_PYTHON_EXECUTABLE (cached; set it to choose), and
# SINCEHASH_HAVE_PYBIND11 and SINCEHASH_PYTHON_HAS_PYTEST in the caller's scope. Leaves the
# interpreter the other tests use (Python3_EXECUTABLE) alone.

# True in `out` when `python` runs `import <module>`.
function(sincehash_python_imports python module out)
  execute_process(COMMAND "${python}" -c "import ${module}" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(rc EQUAL 0)
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# The interpreter: the one given, else the first candidate that has pytest (the system's first),
# else the first that runs at all (the module is then built, its tests skipped).
if(NOT SINCEHASH_PYTHON_EXECUTABLE)
  find_program(sincehash_path_python3 NAMES python3 NO_CACHE)
  set(sincehash_fallback "")
  foreach(candidate /usr/bin/python3 ${sincehash_path_python3})
    if(NOT EXISTS "${candidate}")
      continue()
    endif()
    sincehash_python_imports("${candidate}" pytest has_pytest)
    if(has_pytest)
      set(SINCEHASH_PYTHON_EXECUTABLE "${candidate}" CACHE FILEPATH "The Python the module is built for and tested with")
      break()
    elseif(NOT sincehash_fallback)
      set(sincehash_fallback "${candidate}")
    endif()
  endforeach()
  if(NOT SINCEHASH_PYTHON_EXECUTABLE AND sincehash_fallback)
    set(SINCEHASH_PYTHON_EXECUTABLE "${sincehash_fallback}" CACHE FILEPATH "The Python the module is built for and tested with")
  endif()
endif()

set(SINCEHASH_HAVE_PYBIND11 FALSE)
set(SINCEHASH_PYTHON_HAS_PYTEST FALSE)
if(SINCEHASH_PYTHON_EXECUTABLE)
  sincehash_python_imports("${SINCEHASH_PYTHON_EXECUTABLE}" pytest SINCEHASH_PYTHON_HAS_PYTEST)
  # pybind11's own search (FindPythonLibsNew) takes the interpreter from PYTHON_EXECUTABLE.
  set(PYTHON_EXECUTABLE "${SINCEHASH_PYTHON_EXECUTABLE}" CACHE FILEPATH "The Python pybind11 builds for")
  find_package(pybind11 CONFIG QUIET)
  if(pybind11_FOUND)
    set(SINCEHASH_HAVE_PYBIND11 TRUE)
  endif()
endif()
