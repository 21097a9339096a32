"""Reading the production files (compose.yaml, the Dockerfile, the systemd units, the
settings' own source) for tests/test_deployment*.py and tests/test_healthchecks.py."""

import ast
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
SAMPLE = {
    "SECRET_KEY": "q3J-vN8rT0xLk2_Wz7Ym5Pa9cE4uHs6Gd1Bf0ZiOn8Rt3Xw-Ae7Uy5Kj2Lm9Vb4",
    "POSTGRES_PASSWORD": "pg-secret",
    "REDIS_PASSWORD": "redis-secret",
    "TASKQUEUE_HOST": "tq.example.com",
}


def settings_variables() -> set[str]:
    """Every environment variable config/ reads: the first argument of env_bool/int/list,
    os.environ.get, os.environ[...] and `"X" in os.environ`; plus DATABASE_URL, which
    dj_database_url.config() reads."""
    names = {"DATABASE_URL"}
    for path in (ROOT / "config").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                func = ast.unparse(node.func)
                if func in ("env_bool", "env_int", "env_list", "os.environ.get", "os.getenv"):
                    names |= _literal(node.args[0])
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                names |= _literal(node.slice)
            elif isinstance(node, ast.Compare) and ast.unparse(node.comparators[0]) == "os.environ":
                names |= _literal(node.left)
    return names - {"DJANGO_SETTINGS_MODULE"}


def _literal(node) -> set[str]:
    return {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set()


def dead_knobs(names, read: set[str]) -> set[str]:
    return set(names) - read


def interpolate(value: str) -> str:
    """Compose's interpolation with the SAMPLE values: ${X}, ${X:?msg}, ${X:-d}; $$ is $."""
    value = re.sub(r"\$\{(\w+)(?:[:?-][^}]*)?\}", lambda m: SAMPLE[m.group(1)], value)
    return value.replace("$$", "$")


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def service(name: str) -> dict:
    return compose()["services"][name]


def app_environment() -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in service("web")["environment"].items()}


def unit(name: str) -> dict[str, list[str]]:
    """A unit file as {"Section.Key": [values...]} (keys may repeat, e.g. Environment)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def unit_names() -> list[str]:
    return sorted(path.name for path in UNITS.glob("*.service"))


def lines_of(path: Path) -> list[str]:
    """The lines of a file that are neither blank nor # comments."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def env_file_keys(path: Path) -> set[str]:
    return {line.partition("=")[0] for line in lines_of(path)}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile line, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def seconds(value: str) -> float:
    """A compose duration ("90s", "1m30s") or a systemd one ("90", "90s", "2min")."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*([a-z]*)", value)
    assert parts, f"not a duration: {value!r}"
    return sum(int(number) * units[unit_] for number, unit_ in parts)
