"""Builds the Python module `sincehash` from the headers of this source tree with pybind11.

    python3 -m venv --system-site-packages venv      # Debian: python3-venv, python3-pybind11
    venv/bin/pip install --no-build-isolation ./python

Every optional back end whose library pkg-config finds (Debian: libsqlite3-dev, libhiredis-dev,
libpq-dev, libsodium-dev, libsimdjson-dev) is built in; SQLite is required."""
import os
import re
import shlex
import shutil
import subprocess
import sys

try:
    from pybind11.setup_helpers import Pybind11Extension, build_ext
except ImportError:
    sys.exit(f"sincehash: {sys.executable} cannot import pybind11. On Debian: apt-get install "
             "python3-pybind11 python3-venv, and make the virtual environment with Debian's Python "
             "(/usr/bin/python3 -m venv --system-site-packages venv)")
from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
os.chdir(HERE)  # setuptools wants the sources relative to here


def version():
    with open(os.path.join(ROOT, "include", "sincehash", "version.hpp")) as f:
        text = f.read()
    return ".".join(re.search(rf"#define SINCEHASH_VERSION_{part} (\d+)", text).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


class build_with_stubs(build_ext):
    """Builds the extension and puts its type stubs beside it."""

    def run(self):
        super().run()
        target = HERE if self.inplace else self.build_lib
        if os.path.abspath(target) != HERE:
            os.makedirs(target, exist_ok=True)
            shutil.copyfile(os.path.join(HERE, "sincehash.pyi"), os.path.join(target, "sincehash.pyi"))


# (pkg-config module, the macro that turns the back end on, required)
BACKENDS = [("sqlite3", "SINCEHASH_HAS_SQLITE", True), ("simdjson", "SINCEHASH_HAS_SIMDJSON", False),
            ("libsodium", "SINCEHASH_HAS_SODIUM", False), ("hiredis", "SINCEHASH_HAS_REDIS", False),
            ("libpq", "SINCEHASH_HAS_POSTGRES", False)]


def pkg_config(module):
    """The compile and link flags of `module`, or None when pkg-config does not know it."""
    try:
        r = subprocess.run(["pkg-config", "--cflags", "--libs", module], capture_output=True, text=True)
    except FileNotFoundError:
        raise SystemExit("sincehash: building the module needs pkg-config (Debian: pkg-config)")
    return shlex.split(r.stdout) if r.returncode == 0 else None


include_dirs, libraries, library_dirs, macros, extra = [os.path.join("..", "include")], ["xxhash"], [], [], []
for module, macro, required in BACKENDS:
    flags = pkg_config(module)
    if flags is None:
        if required:
            raise SystemExit(f"sincehash: pkg-config does not find {module} (Debian: libsqlite3-dev)")
        continue
    macros.append((macro, "1"))
    for f in flags:
        if f.startswith("-I"):
            include_dirs.append(f[2:])
        elif f.startswith("-l"):
            libraries.append(f[2:])
        elif f.startswith("-L"):
            library_dirs.append(f[2:])
        elif f.startswith("-D"):
            name, _, value = f[2:].partition("=")
            macros.append((name, value or None))
        else:
            extra.append(f)

setup(
    version=version(),
    ext_modules=[Pybind11Extension(
        "sincehash", ["sincehash_module.cpp", os.path.join("..", "examples", "cli", "output.cpp")],
        include_dirs=include_dirs, libraries=libraries, library_dirs=library_dirs, define_macros=macros,
        extra_compile_args=extra, cxx_std=17)],
    cmdclass={"build_ext": build_with_stubs},
)
