"""The bioconda recipe ``recipe/meta.yaml``, checked offline (issue 6).

The fast tests render the recipe with conda-build stand-ins, run the checks of
bioconda's linter that apply to a noarch Python recipe (``recipe_check.lint``)
and compare the recipe with pyproject.toml. Their checker is itself tested on
broken copies of the recipe, so that a rule it misses cannot go unnoticed.

The slow tests build the sdist and wheel, check what they hold, and emulate the
conda build and test: a clean venv gets only the recipe's run requirements
(their PyPI names), then the sdist with ``--no-deps``, and the recipe's
``test:`` imports and commands run there exactly as written. They need PyPI
(for the run requirements and the isolated build backend) and take about a
minute; they fail when tis_transformer/models holds no ONNX model, since the
package is broken without one.

Environment variables: ``TIS_RECIPE_META`` lints another meta.yaml;
``TIS_RELEASE_CHECK=1`` (or ``=pypi``) checks the recipe's sha256 against the
sdist being released (recipe/README.md).
"""

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import recipe_check as rc

ALLOWED_BEFORE_RELEASE = {"placeholder_checksum"}
RELEASE = os.environ.get("TIS_RELEASE_CHECK", "")


@pytest.fixture(scope="module")
def recipe():
    return rc.render_file()


@pytest.fixture(scope="module")
def pyproject():
    return rc.load_pyproject()


# ---------------------------------------------------------------------------
# lint


def test_recipe_passes_bioconda_lint():
    messages = rc.lint_file()
    allowed = set() if RELEASE else ALLOWED_BEFORE_RELEASE
    bad = [m for m in messages if m.severity == rc.ERROR
           or (m.severity == rc.WARNING and m.check not in allowed)]
    assert not bad, "\n".join(map(str, messages))


def test_recipe_passes_lint_with_the_channel_python_min():
    """With the channel's python_min (conda-forge pinning) instead of the fallback."""
    assert not rc.errors(rc.lint_file(context={"python_min": "3.10"}))
    rendered = rc.render_file(context={"python_min": "3.10"})
    assert "python 3.10" in rc.requirement_specs(rendered, "host")
    assert "python >=3.10" in rc.requirement_specs(rendered, "run")


def test_folder_name_is_the_package_name():
    """bioconda-recipes keeps the recipe in recipes/tis-transformer/, not recipe/."""
    assert not [m for m in rc.lint_file() if m.check == "folder_and_package_name_must_match"]
    found = [m for m in rc.lint_file(folder=rc.RECIPE_DIR.name)
             if m.check == "folder_and_package_name_must_match"]
    assert found and found[0].severity == rc.ERROR


PIN = "    - {{ pin_subpackage('tis-transformer', max_pin=\"x.x\") }}\n"
SUMMARY = re.compile(r"^  summary: .*\n", re.M)
TEST_SECTION = re.compile(r"^test:\n(?:  .*\n|\n)*", re.M)

# (what is broken, text to find, its replacement, the check that must report it)
BREAKAGES = [
    ("no run_exports", "  run_exports:\n" + PIN, "", "missing_run_exports"),
    ("no build number", "  number: 0\n", "", "missing_build_number"),
    ("no home", "  home: https://github.com/tis-transformer/tis-transformer\n", "",
     "missing_home"),
    ("no summary", SUMMARY, "", "missing_summary"),
    ("no license", "  license: MIT\n", "", "missing_license"),
    ("no tests", TEST_SECTION, "", "missing_tests"),
    ("no checksum", re.compile(r"^  sha256: .*\n", re.M), "", "missing_hash"),
    ("bad checksum", re.compile(r"(?<=sha256: )\S+"), '"abc123"', "bad_checksum"),
    ("unquoted zeros as checksum", re.compile(r"(?<=sha256: )\S+"), "0" * 64, "missing_hash"),
    ("not noarch", "  noarch: python\n", "", "should_be_noarch_python"),
    ("compiler in a noarch recipe", "  host:\n", "  build:\n    - {{ compiler('c') }}\n  host:\n",
     "should_not_be_noarch_compiler"),
    ("run_exports pins another package", "pin_subpackage('tis-transformer'",
     "pin_subpackage('transcript-transformer'", "run_exports_not_pinning_package"),
    ("major-only pin on a 0.x version", 'max_pin="x.x"', 'max_pin="x"',
     "run_exports_not_pinning_package"),
    ("identifier without colon", "doi:10.1093", "doi 10.1093", "extra_identifiers_missing_colon"),
    ("identifier not a DOI", "doi:10.1093/nargab/lqad021", "doi:lqad021", "bad_identifier"),
    ("identifiers not a list", re.compile(r"^  identifiers:\n    - (.*)\n", re.M),
     r"  identifiers: \1\n", "extra_identifiers_not_list"),
    ("version starting with v", '{% set version = "', '{% set version = "v',
     "version_starts_with_v"),
    ("git source", "  url: https://pypi.org",
     "  git_url: https://github.com/tis-transformer/tis-transformer.git\n  url: https://pypi.org",
     "uses_vcs_url"),
    ("duplicate key", "  number: 0\n", "  number: 0\n  number: 1\n", "duplicate_key_in_meta_yaml"),
    ("broken Jinja", "version: {{ version }}", "version: {{ version }", "jinja_render_failure"),
    ("constraint without space", "numpy >=1.22", "numpy>=1.22",
     "version_constraints_missing_whitespace"),
    ("setup.py install", "{{ PYTHON }} -m pip install . --no-deps --no-build-isolation -vvv",
     "{{ PYTHON }} setup.py install", "bad_build_script"),
    ("no pip check", "    - pip check\n", "", "missing_pip_check"),
    ("only --version as a command test", re.compile(r"^    - tis-transformer (models|impute).*\n",
                                                    re.M), "", "missing_real_test"),
    ("selector in a noarch recipe", "  number: 0\n", "  number: 0  # [linux]\n",
     "selector_in_noarch_recipe"),
    ("run python not from python_min", "    - python >={{ python_min }}\n", "    - python\n",
     "noarch_python_min"),
    ("no license_file", "  license_file: LICENSE\n", "", "missing_license_file"),
    ("no recipe maintainers", re.compile(r"^  recipe-maintainers:\n(    .*\n)+", re.M), "",
     "missing_recipe_maintainers"),
]


def break_recipe(text, find, replace):
    """text with one thing broken; fails if the thing to break is not there."""
    if isinstance(find, re.Pattern):
        broken, count = find.subn(replace, text)
    else:
        count = text.count(find)
        broken = text.replace(find, replace)
    assert count >= 1, f"{find!r} not in meta.yaml: update the breakage"
    return broken


@pytest.mark.parametrize("find, replace, check",
                         [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_lint_reports_a_broken_rule(find, replace, check):
    text = rc.META_YAML.read_text(encoding="utf-8")
    assert check not in {m.check for m in rc.lint(text)}
    messages = rc.lint(break_recipe(text, find, replace))
    reported = [m for m in messages if m.check == check]
    assert reported, f"{check} not reported; got:\n" + "\n".join(map(str, messages))
    assert reported[0].severity == rc.ERROR


def test_lint_warns_on_a_long_summary():
    text = rc.META_YAML.read_text(encoding="utf-8")
    broken = SUMMARY.sub("  summary: " + "x" * 121 + "\n", text)
    assert [m.severity for m in rc.lint(broken) if m.check == "long_summary"] == [rc.WARNING]


def test_lint_fails_on_a_recipe_copy_without_run_exports(tmp_path):
    """The acceptance example: delete run_exports in a copy of the recipe folder."""
    copy = tmp_path / rc.BIOCONDA_FOLDER
    shutil.copytree(rc.RECIPE_DIR, copy)
    meta = copy / "meta.yaml"
    meta.write_text(break_recipe(meta.read_text(encoding="utf-8"), "  run_exports:\n" + PIN, ""))
    failures = rc.errors(rc.lint_file(meta))
    assert [m.check for m in failures] == ["missing_run_exports"], failures


def test_lint_checks_files_in_the_recipe_folder(tmp_path):
    copy = tmp_path / rc.BIOCONDA_FOLDER
    shutil.copytree(rc.RECIPE_DIR, copy)
    (copy / "bld.bat").write_text("echo\n")
    assert "has_windows_bat_file" in {m.check for m in rc.errors(rc.lint_file(copy / "meta.yaml"))}


# ---------------------------------------------------------------------------
# the recipe against the package


def test_version_is_the_package_version(recipe):
    version = rc.package_version()
    assert recipe.get("package/version") == version
    assert recipe.get("package/name") == "tis-transformer" == rc.BIOCONDA_FOLDER
    assert recipe.get("source/url") == ("https://pypi.org/packages/source/t/tis-transformer/"
                                        + rc.sdist_name(version))
    assert recipe.get("build/number") == 0
    assert recipe.pins == [("tis-transformer", "x.x", (recipe.get("build/run_exports") or [""])[0])]


def test_run_requirements_are_the_lean_dependencies(recipe, pyproject):
    run = rc.requirement_specs(recipe, "run")
    assert rc.conda_requirements(run) == rc.pypi_requirements(pyproject["project"]["dependencies"])
    # python_min falls back to pyproject's requires-python
    python = [s for s in run if rc.spec_name(s) == "python"]
    assert python == ["python " + pyproject["project"]["requires-python"].replace(" ", "")]
    assert "python " + python[0].split(">=")[1] in rc.requirement_specs(recipe, "host")
    # the shipped ONNX models are IR version 10 (opset 18): onnxruntime 1.17 refuses them, 1.18 loads them
    assert _version_tuple(rc.conda_requirements(run)["onnxruntime"]) >= (1, 18)
    # nothing of the training stack
    for name in ("pytorch", "torch", "lightning", "onnx", "performer-pytorch"):
        assert name not in {rc.spec_name(s) for s in run}, name


def test_host_requirements_hold_the_build_backend(recipe, pyproject):
    host = rc.conda_requirements(rc.requirement_specs(recipe, "host"))
    backend = rc.pypi_requirements(pyproject["build-system"]["requires"])
    assert {name: host.get(name) for name in backend} == backend
    assert "pip" in host
    # setuptools >= 69.3 names the sdist tis_transformer-X.Y.Z.tar.gz (PEP 625), as source/url expects
    assert _version_tuple(host["setuptools"]) >= (69, 3)


def _version_tuple(version):
    return tuple(int(part) for part in version.split("."))


def test_entry_points_are_the_console_scripts(recipe, pyproject):
    scripts = [f"{name} = {target}" for name, target in pyproject["project"]["scripts"].items()]
    assert recipe.get("build/entry_points") == scripts == [
        "tis-transformer = tis_transformer.__main__:main"]
    assert recipe.get("build/script") == "$PYTHON -m pip install . --no-deps --no-build-isolation -vvv"


def test_about_and_extra(recipe, pyproject):
    urls = pyproject["project"]["urls"]
    assert recipe.get("about/home") == urls["Homepage"]
    assert recipe.get("about/dev_url") == urls["Source"]
    assert recipe.get("about/doc_url") == urls["Documentation"]
    assert recipe.get("about/license") == pyproject["project"]["license"]["text"] == "MIT"
    assert recipe.get("about/license_family") == "MIT"
    assert len(recipe.get("about/summary")) <= 120
    assert rc.PAPER_DOI in recipe.get("extra/identifiers")
    license_text = (rc.ROOT / recipe.get("about/license_file")).read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 tis-transformer developers" in license_text


def test_readme_documents_release_and_gpu():
    readme = (rc.RECIPE_DIR / "README.md").read_text(encoding="utf-8")
    for needle in ("TIS_RELEASE_CHECK", "sha256", "python -m build", "twine upload",
                   "onnxruntime=*=*cuda*", "recipes/tis-transformer/meta.yaml"):
        assert needle in readme, needle


@pytest.mark.skipif(RELEASE not in ("1", "pypi"),
                    reason="release check: set TIS_RELEASE_CHECK=1 (dist/ sdist) or =pypi")
def test_sha256_is_the_released_sdist(recipe):
    version = recipe.get("package/version")
    expected = recipe.get("source/sha256")
    assert expected != rc.PLACEHOLDER_SHA256, "set source/sha256 in recipe/meta.yaml"
    sdist = Path(os.environ.get("TIS_RELEASE_SDIST") or rc.ROOT / "dist" / rc.sdist_name(version))
    assert sdist.is_file(), f"{sdist}: build it with python -m build --sdist (recipe/README.md)"
    assert sdist.name == rc.sdist_name(version) == recipe.get("source/url").rsplit("/", 1)[1]
    assert rc.sha256(sdist) == expected, f"{sdist} is not the sdist the recipe names"
    if RELEASE == "pypi":
        url = f"https://pypi.org/pypi/tis-transformer/{version}/json"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                files = json.load(response)["urls"]
        except urllib.error.HTTPError as error:
            pytest.fail(f"{url}: {error} (is {version} uploaded yet?)")
        sdists = [f for f in files if f["packagetype"] == "sdist"]
        assert [f["filename"] for f in sdists] == [sdist.name]
        assert sdists[0]["digests"]["sha256"] == expected, "PyPI holds another sdist"


# ---------------------------------------------------------------------------
# distributions and the emulated conda build + test (slow, needs PyPI)


@pytest.fixture(scope="module")
def distributions(tmp_path_factory):
    models = sorted(rc.MODELS_DIR.glob("*.onnx"))
    if not models:
        pytest.fail(f"no ONNX model in {rc.MODELS_DIR}: the package (and its recipe test) is "
                    "broken without a shipped model")
    return rc.build_distributions(rc.ROOT, tmp_path_factory.mktemp("dist"))


@pytest.mark.slow
def test_sdist_and_wheel_contents(distributions, recipe):
    sdist, wheel = distributions
    assert sdist.name == recipe.get("source/url").rsplit("/", 1)[1]
    assert wheel.name.endswith("-py3-none-any.whl"), "noarch: python needs a pure wheel"
    sdist_members = rc.archive_members(sdist)
    problems = rc.distribution_problems(sdist_members, "sdist")
    problems += rc.distribution_problems(rc.archive_members(wheel), "wheel")
    assert recipe.get("about/license_file") in sdist_members
    assert not problems, "\n".join(problems)
    print(f"\n{sdist.name}: {sdist.stat().st_size:,} bytes, {len(sdist_members)} files;"
          f" {wheel.name}: {wheel.stat().st_size:,} bytes")


@pytest.mark.slow
def test_recipe_tests_pass_in_a_clean_venv(distributions, recipe, tmp_path):
    sdist, _wheel = distributions
    workdir = tmp_path / "work"  # not the repository: the import must come from the venv
    workdir.mkdir()
    venv = tmp_path / "venv"
    env = rc.install_like_conda(recipe, sdist, venv, workdir)
    log = rc.run_recipe_tests(recipe, venv, env, workdir)
    assert len(log) == len(recipe.get("test/imports")) + len(recipe.get("test/commands"))
    print("\n" + "\n".join(log))
