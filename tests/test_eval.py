"""The evaluation package: one backend protocol, backends that never import one another, vLLM
imported lazily, and the vLLM backend's completions counted as the transformers backend counts them."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lenbench.eval.backend import Backend, Completion
from lenbench.eval.transformers_backend import TransformersBackend
from lenbench.eval.vllm_backend import VLLMBackend, completions_from_outputs

EVAL = Path(__file__).resolve().parents[1] / "lenbench" / "eval"
BACKENDS = ("transformers_backend", "vllm_backend")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("name", BACKENDS)
def test_no_backend_imports_another_or_the_orchestrator(name):
    imports = imported_modules(EVAL / f"{name}.py")
    others = {f"lenbench.eval.{other}" for other in (*BACKENDS, "evaluate") if other != name}
    assert not imports & others, imports & others
    assert "lenbench.eval.backend" in imports  # what every backend returns is defined once, there


def test_the_generate_signature_is_the_protocols():
    protocol = inspect.signature(Backend.generate)
    for backend in (TransformersBackend, VLLMBackend):
        assert inspect.signature(backend.generate) == protocol, backend.__name__


def test_importing_the_evaluation_imports_neither_vllm_nor_its_backend():
    code = "import sys, lenbench.eval; print(sorted(m for m in sys.modules if 'vllm' in m))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_vllm_outputs_count_eos_and_truncation_as_the_transformers_backend():
    class Tokenizer:
        def decode(self, ids, skip_special_tokens):
            return " ".join(str(i) for i in ids if not (skip_special_tokens and i == 9))

    def output(ids, reason):
        return SimpleNamespace(token_ids=ids, finish_reason=reason)

    outputs = [SimpleNamespace(outputs=[output([4, 5, 9], "stop"), output([4, 5, 6, 7], "length")]),
               SimpleNamespace(outputs=[output([9], "stop")])]
    rows = completions_from_outputs(outputs, Tokenizer(), max_new_tokens=4)
    assert rows == [[Completion("4 5", 3, False), Completion("4 5 6 7", 4, True)], [Completion("", 1, False)]]
    assert [c.ids for c in rows[0]] == [(4, 5, 9), (4, 5, 6, 7)]  # EOS kept: the thinking/answer split counts it
