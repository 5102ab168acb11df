"""Offline checks of the bioconda recipe ``recipe/meta.yaml``.

No conda channel is reachable here and neither conda-build nor bioconda-utils is
on PyPI, so this module does what they would do with the recipe, as far as it
can be done without them:

* ``render`` fills in the Jinja template with stand-ins for what conda-build
  provides (``PYTHON``, ``pin_subpackage``, ``compiler``, ``environ``,
  ``load_setup_py_data``, ``python_min`` ...) and parses the YAML, refusing
  duplicate keys as conda-build does;
* ``lint`` runs the checks of bioconda's linter that can fail a noarch Python
  recipe (each reported under the bioconda-utils check name and severity) and
  a few rules of this project (tagged ``project``), and returns the messages,
  so that a test can also run it on a deliberately broken copy;
* the remaining helpers compare the recipe with ``pyproject.toml`` and emulate
  the conda build and test: build the sdist and wheel, check what they contain,
  install the recipe's run requirements and the sdist into a clean venv and run
  the recipe's ``test: commands`` there.

Checks of bioconda's linter that need the channel or the bioconda-recipes
repository (``in_other_channels``, ``build_number_needs_bump``,
``recipe_is_blacklisted``, ``conda_render_failure`` ...) cannot run offline;
``bioconda-utils lint`` runs them on the pull request.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
RECIPE_DIR = ROOT / "recipe"
#: TIS_RECIPE_META lints another meta.yaml with the same tests (e.g. a broken copy).
META_YAML = Path(os.environ.get("TIS_RECIPE_META") or RECIPE_DIR / "meta.yaml")
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE_INIT = ROOT / "tis_transformer" / "__init__.py"
MODELS_DIR = ROOT / "tis_transformer" / "models"

#: In bioconda-recipes a recipe lives in ``recipes/<package name>/``; here it is
#: ``recipe/``. ``folder_and_package_name_must_match`` checks the folder the
#: bioconda pull request uses (see recipe/README.md).
BIOCONDA_FOLDER = "tis-transformer"

#: The paper describing the method.
PAPER_DOI = "doi:10.1093/nargab/lqad021"

ERROR, WARNING, INFO = "ERROR", "WARNING", "INFO"

#: meta.yaml's sha256 before a version is on PyPI (recipe/README.md, release procedure).
PLACEHOLDER_SHA256 = "0" * 64

#: PyPI names of the lean requirements (and build backend) and their conda names.
#: onnxruntime-gpu has no conda package of its own: conda-forge's onnxruntime has
#: CUDA builds (build strings ending in ``_cuda``: ``"onnxruntime=*=*cuda*"``).
PYPI_TO_CONDA = {
    "numpy": "numpy",
    "onnxruntime": "onnxruntime",
    "onnxruntime-gpu": "onnxruntime",
    "biopython": "biopython",
    "setuptools": "setuptools",
    "wheel": "wheel",
    "pip": "pip",
}
CONDA_TO_PYPI = {"numpy": "numpy", "onnxruntime": "onnxruntime", "biopython": "biopython"}

#: Nothing in the sdist or wheel may be bigger (the ONNX model included).
MAX_FILE_BYTES = 5 * 1024 * 1024
#: Anything under tests/ that ends up in a distribution stays this small.
MAX_TEST_FILE_BYTES = 100 * 1024
#: Paths that never belong in a distribution: training output, checkpoints, caches.
FORBIDDEN_PATH = re.compile(
    r"(^|/)(runs|lightning_logs|work_data|\.git|__pycache__|\.pytest_cache|\.benchmarks)(/|$)"
    r"|\.(ckpt|pt|pth|pyc|pyo)$")

COMPILER_LIKE = ("gcc", "llvm", "libgfortran", "libgcc", "go", "cgo", "toolchain", "rust")
IDENTIFIER_TYPES = ("doi", "biotools", "usegalaxy-eu", "rrid", "arxiv", "pmid", "pmcid")
_SELECTOR = re.compile(r"#\s*\[[^\]]+\]\s*$")
_CONSTRAINT = re.compile(r"(.*?)([!~<=>].*)")


# ---------------------------------------------------------------------------
# rendering


class RecipeError(Exception):
    """The recipe could not be rendered or parsed; ``check`` names the lint."""

    def __init__(self, check: str, text: str):
        super().__init__(text)
        self.check = check


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate mapping keys, as conda-build does."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise RecipeError("duplicate_key_in_meta_yaml",
                                  f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _pin_string(name: str, version: str, min_pin: str, max_pin: str | None, exact: bool) -> str:
    """The dependency string conda-build writes for ``pin_subpackage`` (close enough)."""
    if exact:
        return f"{name} {version}"
    parts = version.split(".")
    low = ".".join(parts[: len(min_pin.split("."))])
    if not max_pin:
        return f"{name} >={low}"
    upper = [int(p) if p.isdigit() else 0 for p in parts[: len(max_pin.split("."))]]
    upper += [0] * (len(max_pin.split(".")) - len(upper))
    upper[-1] += 1
    return f"{name} >={low},<{'.'.join(map(str, upper))}.0a0"


@dataclass
class Rendered:
    """A rendered recipe: its text, parsed metadata and what the stand-ins saw."""

    text: str
    meta: dict
    pins: list = field(default_factory=list)        # (name, max_pin, rendered) per pin_subpackage
    selectors: list = field(default_factory=list)   # raw lines carrying a ``# [selector]``

    def get(self, path: str, default: Any = None) -> Any:
        """``meta`` at a slash-separated path, e.g. ``build/number``."""
        node: Any = self.meta
        for key in path.split("/"):
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return default
        return node


def render(text: str, context: dict | None = None) -> Rendered:
    """Render meta.yaml's Jinja with conda-build stand-ins and parse the YAML.

    Parameters
    ----------
    text : str
        The meta.yaml template.
    context : dict, optional
        Extra template variables, e.g. ``{"python_min": "3.10"}`` as a channel's
        pinning would set it.

    Raises
    ------
    RecipeError
        With the bioconda check name (``jinja_render_failure``,
        ``duplicate_key_in_meta_yaml``, ``empty_meta_yaml``).
    """
    pins: list = []

    @jinja2.pass_context
    def pin_subpackage(ctx, name, min_pin="x.x.x.x.x.x", max_pin="x", exact=False):
        version = str(ctx.get("version", "0"))
        pinned = _pin_string(name, version, min_pin, max_pin, exact)
        pins.append((name, max_pin, pinned))
        return pinned

    def pin_compatible(name, *args, **kwargs):
        return name

    def load_setup_py_data(*args, **kwargs):
        project = load_pyproject()["project"]
        return {"name": project["name"], "version": package_version(),
                "install_requires": project.get("dependencies", []),
                "entry_points": {"console_scripts": [
                    f"{k} = {v}" for k, v in project.get("scripts", {}).items()]}}

    stand_ins = {
        "PYTHON": "$PYTHON",
        "PREFIX": "$PREFIX",
        "pin_subpackage": pin_subpackage,
        "pin_compatible": pin_compatible,
        "compiler": lambda language: f"compiler_{language}",
        "stdlib": lambda language: f"stdlib_{language}",
        "cdt": lambda name: f"cdt_{name}",
        "environ": {},
        "load_setup_py_data": load_setup_py_data,
        "load_file_regex": lambda *args, **kwargs: None,
    }
    stand_ins.update(context or {})
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        rendered = env.from_string(text).render(**stand_ins)
    except jinja2.TemplateError as error:
        raise RecipeError("jinja_render_failure", f"{type(error).__name__}: {error}") from None
    selectors = [line.strip() for line in rendered.splitlines() if _SELECTOR.search(line)]
    try:
        meta = yaml.load(rendered, Loader=_UniqueKeyLoader)
    except RecipeError:
        raise
    except yaml.YAMLError as error:
        raise RecipeError("jinja_render_failure", f"not valid YAML after rendering: {error}") from None
    if not meta:
        raise RecipeError("empty_meta_yaml", "meta.yaml renders to nothing")
    if not isinstance(meta, dict):
        raise RecipeError("jinja_render_failure", "meta.yaml does not render to a mapping")
    return Rendered(text=rendered, meta=meta, pins=pins, selectors=selectors)


def render_file(path: Path = META_YAML, context: dict | None = None) -> Rendered:
    return render(Path(path).read_text(encoding="utf-8"), context)


# ---------------------------------------------------------------------------
# requirement specs


def spec_name(spec: str) -> str:
    """Package name of a conda spec such as ``numpy >=1.22``."""
    return re.split(r"[\s!~<=>]", str(spec).strip(), maxsplit=1)[0]


def spec_constraint(spec: str) -> str:
    """The version part of a conda spec (``>=1.22`` of ``numpy >=1.22``), or ''."""
    return str(spec).strip()[len(spec_name(spec)):].strip()


def lower_bound(constraint: str) -> str | None:
    """X of the ``>=X`` clause in a constraint, or None."""
    match = re.search(r">=\s*([0-9][^,\s]*)", constraint)
    return match.group(1) if match else None


def requirement_specs(rendered: Rendered, section: str) -> list[str]:
    specs = rendered.get(f"requirements/{section}") or []
    return [str(s) for s in specs]


def deps_dict(rendered: Rendered) -> dict[str, list[str]]:
    """Every requirement name and where it occurs, as bioconda-utils' ``get_deps_dict``."""
    deps: dict[str, list[str]] = {}
    for section in ("build", "host", "run"):
        for n, spec in enumerate(requirement_specs(rendered, section)):
            deps.setdefault(spec_name(spec), []).append(f"requirements/{section}/{n}")
    for n, spec in enumerate(rendered.get("test/requires") or []):
        deps.setdefault(spec_name(spec), []).append(f"test/requires/{n}")
    return deps


# ---------------------------------------------------------------------------
# lint


@dataclass(frozen=True)
class Message:
    check: str
    severity: str
    text: str
    origin: str = "bioconda"  # a bioconda-utils lint of that name, or a "project" rule

    def __str__(self) -> str:
        return f"{self.severity}: {self.check} [{self.origin}]: {self.text}"


def _raw_section(text: str, key: str) -> str:
    """Lines of a top-level section of the raw template, for selector checks."""
    match = re.search(rf"^{key}:.*?(?=^\S|\Z)", text, flags=re.M | re.S)
    return match.group(0) if match else ""


def lint(text: str, folder: str = BIOCONDA_FOLDER, recipe_dir: Path | None = RECIPE_DIR,
         context: dict | None = None) -> list[Message]:
    """Lint a meta.yaml template; returns every message (an empty list: clean).

    Parameters
    ----------
    text : str
        The meta.yaml template (the file's text, or a modified copy).
    folder : str
        The recipe's folder name in bioconda-recipes (``recipes/<folder>/``).
    recipe_dir : Path, optional
        Directory to look in for ``run_test.*`` and ``*.bat`` files.
    context : dict, optional
        Extra template variables for ``render``.
    """
    messages: list[Message] = []

    def msg(check: str, text: str, severity: str = ERROR, origin: str = "bioconda") -> None:
        messages.append(Message(check, severity, text, origin))

    try:
        recipe = render(text, context)
    except RecipeError as error:
        msg(error.check, str(error))
        return messages

    get = recipe.get
    if not get("package/name") or not get("package/version"):
        msg("missing_version_or_name", "package/name and package/version are required")
        return messages
    if not isinstance(get("build"), dict):
        msg("missing_build", "there is no build section")
        return messages
    name = str(get("package/name"))
    version = str(get("package/version"))
    deps = deps_dict(recipe)
    compiled = any(dep.startswith("compiler_") for dep in deps)
    noarch = get("build/noarch")

    # -- completeness
    number = get("build/number")
    if number is None or number == "" or not str(number).isdigit():
        msg("missing_build_number", "build/number must be a non-negative integer")
    for key, check in (("about/home", "missing_home"), ("about/summary", "missing_summary"),
                       ("about/license", "missing_license")):
        if not str(get(key) or "").strip():
            msg(check, f"{key} is missing or empty")
    has_test_file = recipe_dir is not None and any(
        (Path(recipe_dir) / f).exists() for f in ("run_test.py", "run_test.sh", "run_test.pl"))
    if not (get("test/commands") or get("test/imports") or has_test_file):
        msg("missing_tests", "no test/commands, test/imports or run_test.* file")
    sources = get("source")
    sources = sources if isinstance(sources, list) else [sources] if sources else []
    if not sources:
        msg("missing_hash", "there is no source section", origin="project")
    for n, source in enumerate(sources):
        where = f"source/{n}" if len(sources) > 1 else "source"
        if not isinstance(source, dict):
            msg("missing_hash", f"{where} is not a mapping")
            continue
        if not any(source.get(k) for k in ("md5", "sha1", "sha256")):
            msg("missing_hash", f"{where} has no md5, sha1 or sha256")
        elif "sha256" not in source or not re.fullmatch(r"[0-9a-f]{64}", str(source["sha256"])):
            msg("bad_checksum", f"{where}/sha256 must be 64 lowercase hex digits", origin="project")
        elif source["sha256"] == PLACEHOLDER_SHA256:
            msg("placeholder_checksum", f"{where}/sha256 is the pre-release placeholder: set it "
                "to the uploaded sdist's sha256 when releasing", WARNING, origin="project")
        for vcs in ("git", "svn", "hg"):
            if f"{vcs}_url" in source:
                msg("uses_vcs_url", f"{where}/{vcs}_url: build from a source archive")
        if "fn" in source:
            msg("should_not_use_fn", f"{where}/fn is not needed")

    # -- policy
    if name != folder:
        msg("folder_and_package_name_must_match", f"package {name!r} in folder {folder!r}")
    if version.startswith("v"):
        msg("version_starts_with_v", f"version {version!r} starts with 'v'")
    summary = str(get("about/summary") or "")
    if len(summary) > 120:
        msg("long_summary", f"summary has {len(summary)} characters (at most 120)", WARNING)
    if "gpl" in str(get("about/license") or "").lower() and not get("about/license_file"):
        msg("gpl_requires_license_distributed", "GPL needs about/license_file", WARNING)
    if recipe_dir is not None:
        for bat in sorted(Path(recipe_dir).glob("*.bat")):
            msg("has_windows_bat_file", f"{bat.name}: bioconda builds no Windows packages")

    # -- build helpers
    if "run_exports" not in (get("build") or {}):
        msg("missing_run_exports", "build/run_exports with pin_subpackage is required")
    for dep, places in deps.items():
        if dep in COMPILER_LIKE:
            msg("should_use_compilers", f"{dep} in {places[0]}: use {{{{ compiler(...) }}}}")
        if dep.startswith("compiler_") and any("/run" in p or "/host" in p for p in places):
            msg("compilers_must_be_in_build", f"{dep} in {places[0]}")
    if "cython" in deps and any("/host/" not in p for p in deps["cython"]):
        msg("cython_must_be_in_host", "cython belongs in requirements/host")
    if "cython" in deps and "compiler_c" not in deps and "compiler_cxx" not in deps:
        msg("cython_needs_compiler", "cython without a C/C++ compiler", WARNING)
    if "setuptools" in deps and "setup.py install" in str(get("build/script") or "") \
            and "--single-version-externally-managed" not in str(get("build/script")):
        msg("setup_py_install_args", "setup.py install needs --single-version-externally-managed")
    if any("/run/" in p for p in deps.get("setuptools", [])):
        msg("uses_setuptools", "setuptools is a run requirement", INFO)

    # -- syntax
    for section in ("build", "host", "run"):
        for n, spec in enumerate(requirement_specs(recipe, section)):
            has = _CONSTRAINT.search(spec)
            if has and not has.group(1).endswith(" "):
                msg("version_constraints_missing_whitespace", f"requirements/{section}/{n}: {spec!r}")
    identifiers = get("extra/identifiers")
    if identifiers is not None and not isinstance(identifiers, list):
        msg("extra_identifiers_not_list", "extra/identifiers must be a list")
    elif identifiers:
        for n, identifier in enumerate(identifiers):
            if not isinstance(identifier, str):
                msg("extra_identifiers_not_string", f"extra/identifiers/{n} is not a string")
            elif ":" not in identifier:
                msg("extra_identifiers_missing_colon", f"extra/identifiers/{n}: {identifier!r}")
            else:
                kind, _, value = identifier.partition(":")
                if kind not in IDENTIFIER_TYPES or value != value.strip() or not value:
                    msg("bad_identifier", f"extra/identifiers/{n}: {identifier!r} is not type:value",
                        origin="project")
                elif kind == "doi" and not re.fullmatch(r"10\.\d{4,9}/\S+", value):
                    msg("bad_identifier", f"extra/identifiers/{n}: {identifier!r} is not a DOI",
                        origin="project")
    if not isinstance(get("extra/skip-lints", []), list):
        msg("extra_skip_lints_not_list", "extra/skip-lints must be a list")

    # -- deprecations
    for old, new, check in (("perl-threaded", "perl", "uses_perl_threaded"),
                            ("java-jdk", "openjdk", "uses_javajdk"),
                            ("matplotlib", "matplotlib-base", "uses_matplotlib")):
        if old in deps:
            msg(check, f"use {new} instead of {old}")
    for section in ("build", "host", "run"):
        for spec in requirement_specs(recipe, section):
            if spec_name(spec) == "numpy" and "x.x" in spec:
                msg("deprecated_numpy_spec", f"requirements/{section}: {spec!r}")

    # -- noarch
    if "python" in deps and not compiled and noarch != "python":
        msg("should_be_noarch_python", "a Python package without a compiler is noarch: python")
    if compiled and noarch:
        msg("should_not_be_noarch_compiler", "a recipe using a compiler cannot be noarch")
    if noarch and get("build/skip", False) not in (False, None):
        msg("should_not_be_noarch_skip", "a noarch recipe cannot use build/skip")
    if noarch and _SELECTOR.search(_raw_section(recipe.text, "source")):
        msg("should_not_be_noarch_source", "per-platform source in a noarch recipe")
    if noarch and recipe.selectors:
        msg("selector_in_noarch_recipe", f"selectors in a noarch recipe: {recipe.selectors[0]!r}",
            origin="project")

    # -- project rules: what a bioconda reviewer asks for on a noarch Python recipe
    script = str(get("build/script") or "")
    for token in ("$PYTHON -m pip install .", "--no-deps", "--no-build-isolation"):
        if token not in script:
            msg("bad_build_script", f"build/script lacks {token!r}: "
                "use {{ PYTHON }} -m pip install . --no-deps --no-build-isolation -vvv",
                origin="project")
            break
    exports = get("build/run_exports") or []
    if "run_exports" in (get("build") or {}):
        own = [p for p in recipe.pins if p[0] == name]
        if not own or not any(str(e) == own[0][2] for e in exports):
            msg("run_exports_not_pinning_package",
                f"build/run_exports must hold {{{{ pin_subpackage('{name}', max_pin=...) }}}}",
                origin="project")
        elif version.split(".")[0] == "0" and own[0][1] not in ("x.x", "x.x.x"):
            msg("run_exports_not_pinning_package",
                f"a 0.x version may break in minor releases: max_pin='x.x', not {own[0][1]!r}",
                origin="project")
    if noarch == "python":
        host_py = [s for s in requirement_specs(recipe, "host") if spec_name(s) == "python"]
        run_py = [s for s in requirement_specs(recipe, "run") if spec_name(s) == "python"]
        test_py = [str(s) for s in get("test/requires") or [] if spec_name(s) == "python"]
        minimum = spec_constraint(host_py[0]) if host_py else ""
        if not re.fullmatch(r"3\.\d+(\.\*)?", minimum):
            msg("noarch_python_min", "host needs python {{ python_min }}", origin="project")
        else:
            minimum = minimum.removesuffix(".*")
            if [spec_constraint(s) for s in run_py] != [f">={minimum}"]:
                msg("noarch_python_min", "run needs python >={{ python_min }}", origin="project")
            if [spec_constraint(s).removesuffix(".*") for s in test_py] != [minimum]:
                msg("noarch_python_min", "test/requires needs python {{ python_min }}",
                    origin="project")
    for key in ("about/license_file", "about/description", "about/dev_url", "about/doc_url"):
        if not str(get(key) or "").strip():
            msg("missing_" + key.split("/")[1], f"{key} is missing or empty", origin="project")
    maintainers = get("extra/recipe-maintainers")
    if not maintainers or not isinstance(maintainers, list) \
            or not all(isinstance(m, str) and m for m in maintainers):
        msg("missing_recipe_maintainers", "extra/recipe-maintainers must list GitHub handles",
            origin="project")
    commands = [str(c) for c in get("test/commands") or []]
    if not any(c.strip() == "pip check" for c in commands) \
            or "pip" not in [spec_name(s) for s in get("test/requires") or []]:
        msg("missing_pip_check", "test needs `pip check` and requires: pip", origin="project")
    scripts = [str(e).split("=")[0].strip() for e in get("build/entry_points") or []]
    if not scripts:
        msg("missing_entry_points", "build/entry_points must declare the CLI", origin="project")
    elif not any(c.split()[:1] == scripts[:1] and not {"--help", "-h", "--version"} & set(c.split())
                 for c in commands):
        msg("missing_real_test", f"test/commands must run {scripts[0]} for real, not only "
            "--help/--version", origin="project")
    return messages


def lint_file(path: Path = META_YAML, folder: str = BIOCONDA_FOLDER,
              context: dict | None = None) -> list[Message]:
    path = Path(path)
    return lint(path.read_text(encoding="utf-8"), folder=folder, recipe_dir=path.parent,
                context=context)


def errors(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.severity == ERROR]


# ---------------------------------------------------------------------------
# the project side


def load_pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def package_version() -> str:
    """``tis_transformer.__version__``, read without importing the package."""
    tree = ast.parse(PACKAGE_INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"no __version__ in {PACKAGE_INIT}")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_requirements(requirements: list[str]) -> dict[str, str | None]:
    """{conda name: lower bound} of PEP 508 requirements (markers ignored)."""
    from packaging.requirements import Requirement

    out: dict[str, str | None] = {}
    for text in requirements:
        req = Requirement(text)
        name = canonical(req.name)
        if name not in PYPI_TO_CONDA:
            raise KeyError(f"no conda name known for PyPI package {req.name!r}: add it to "
                           "PYPI_TO_CONDA in tests/recipe_check.py")
        bounds = [s.version for s in req.specifier if s.operator == ">="]
        out[PYPI_TO_CONDA[name]] = bounds[0] if bounds else None
    return out


def conda_requirements(specs: list[str], skip=("python",)) -> dict[str, str | None]:
    """{name: lower bound} of conda specs."""
    return {spec_name(s): lower_bound(spec_constraint(s)) for s in specs if spec_name(s) not in skip}


def to_pypi_specs(specs: list[str]) -> list[str]:
    """pip requirement strings for the recipe's run requirements (python left out)."""
    out = []
    for spec in specs:
        name = spec_name(spec)
        if name == "python":
            continue
        if name not in CONDA_TO_PYPI:
            raise KeyError(f"no PyPI name known for conda package {name!r}: add it to "
                           "CONDA_TO_PYPI in tests/recipe_check.py")
        out.append(CONDA_TO_PYPI[name] + spec_constraint(spec).replace(" ", ""))
    return out


def sdist_name(version: str) -> str:
    """File name of the sdist setuptools >= 69.3 builds (name normalised, PEP 625)."""
    return f"{canonical('tis-transformer').replace('-', '_')}-{version}.tar.gz"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# distributions


def build_distributions(project: Path, outdir: Path) -> tuple[Path, Path]:
    """``python -m build``: the sdist, then the wheel built from it."""
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(outdir), str(project)],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"python -m build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    sdists = sorted(Path(outdir).glob("*.tar.gz"))
    wheels = sorted(Path(outdir).glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, (sdists, wheels)
    return sdists[0], wheels[0]


def archive_members(path: Path) -> dict[str, int]:
    """{member path: size} of an sdist (leading directory stripped) or a wheel."""
    path = Path(path)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as archive:
            return {i.filename: i.file_size for i in archive.infolist() if not i.is_dir()}
    with tarfile.open(path) as archive:
        return {m.name.split("/", 1)[1]: m.size for m in archive.getmembers()
                if m.isfile() and "/" in m.name}


def distribution_problems(members: dict[str, int], kind: str) -> list[str]:
    """What is wrong with an sdist's or wheel's contents (an empty list: nothing)."""
    problems = []
    # a model is NAME.onnx with NAME.json; NAME.summary.onnx / NAME.step.onnx are the layer graphs of one with
    # transformer layers (both or neither)
    models = [m for m in members if re.fullmatch(r"tis_transformer/models/[^/.]+\.onnx", m)]
    if not models:
        problems.append(f"{kind}: no tis_transformer/models/*.onnx: the package is broken "
                        "without a shipped model")
    for model in models:
        stem = model[: -len(".onnx")]
        if stem + ".json" not in members:
            problems.append(f"{kind}: {model} has no .json next to it")
        layers = [stem + companion in members for companion in (".summary.onnx", ".step.onnx")]
        if any(layers) and not all(layers):
            problems.append(f"{kind}: {model} has one of its two layer graphs (.summary.onnx, .step.onnx)")
    if kind == "sdist":
        if "LICENSE" not in members:
            problems.append("sdist: no LICENSE at the top (the recipe's about/license_file)")
        if "pyproject.toml" not in members:
            problems.append("sdist: no pyproject.toml")
    else:
        if not any(re.fullmatch(r"[^/]+\.dist-info/(licenses/)?LICENSE", m) for m in members):
            problems.append("wheel: no LICENSE in the .dist-info")
        outside = sorted({m.split("/")[0] for m in members}
                         - {"tis_transformer"} - {m.split("/")[0] for m in members
                                                  if m.split("/")[0].endswith(".dist-info")})
        if outside:
            problems.append(f"wheel: files outside the package: {outside}")
    for member, size in sorted(members.items()):
        if size > MAX_FILE_BYTES:
            problems.append(f"{kind}: {member} has {size:,} bytes (limit {MAX_FILE_BYTES:,})")
        if FORBIDDEN_PATH.search(member):
            problems.append(f"{kind}: {member} does not belong in a distribution")
        if member.startswith("tests/") and size > MAX_TEST_FILE_BYTES:
            problems.append(f"{kind}: test file {member} has {size:,} bytes "
                            f"(limit {MAX_TEST_FILE_BYTES:,})")
    return problems


# ---------------------------------------------------------------------------
# the emulated conda install and test


def clean_env(venv: Path) -> dict[str, str]:
    """Environment with the venv's bin first on PATH and nothing leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX",
                        "PIP_REQUIRE_VIRTUALENV", "PIP_USER")}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(command: list[str] | str, env: dict, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a command; a string runs in bash with ``-e`` as conda-build's test script does."""
    argv = ["bash", "-ec", command] if isinstance(command, str) else command
    return subprocess.run(argv, env=env, cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout)


def describe(result: subprocess.CompletedProcess) -> str:
    return (f"$ {result.args}\nexit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}"
            f"\n--- stderr\n{result.stderr[-3000:]}")


def install_like_conda(recipe: Rendered, sdist: Path, venv: Path, workdir: Path) -> dict[str, str]:
    """A clean venv with only the recipe's run requirements, then the sdist with --no-deps.

    Returns the environment to run the recipe's tests in.
    """
    result = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, describe(result)
    env = clean_env(venv)
    python = str(venv / "bin" / "python")
    run_specs = requirement_specs(recipe, "run")
    test_specs = [str(s) for s in recipe.get("test/requires") or []
                  if spec_name(s) not in ("python", "pip")]  # the venv has pip already
    result = run([python, "-m", "pip", "install", "--quiet", *to_pypi_specs(run_specs + test_specs)],
                 env, workdir)
    assert result.returncode == 0, describe(result)
    result = run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(sdist)], env, workdir)
    assert result.returncode == 0, describe(result)
    return env


def run_recipe_tests(recipe: Rendered, venv: Path, env: dict, workdir: Path) -> list[str]:
    """The recipe's ``test:`` section in the venv; returns a log of what ran."""
    log = []
    python = str(venv / "bin" / "python")
    from packaging.specifiers import SpecifierSet

    version = _venv_python_version(python)
    for spec in requirement_specs(recipe, "run"):
        if spec_name(spec) == "python":
            assert version in SpecifierSet(spec_constraint(spec).replace(" ", "")), \
                f"the venv's Python {version} does not satisfy the recipe's {spec!r}"
    for module in recipe.get("test/imports") or []:
        code = (f"import {module}, sys; path = {module}.__file__; "
                f"assert path.startswith(sys.prefix), path; print(path)")
        result = run([python, "-c", code], env, workdir)
        assert result.returncode == 0, describe(result)
        log.append(f"import {module}: {result.stdout.strip()}")
    for command in recipe.get("test/commands") or []:
        result = run(str(command), env, workdir)
        assert result.returncode == 0, describe(result)
        log.append(f"$ {command}\n{result.stdout.rstrip()}")
    return log


def _venv_python_version(python: str) -> str:
    out = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()
