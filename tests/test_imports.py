"""The package's imports form layers: no cycle, and no plug-in imports a
sibling plug-in. Read from the source with `ast`, imports inside functions
and `lazy.module("...")` names included, so a cycle cannot hide in a
function body."""

import ast
import pathlib

import pytest

from conftest import REPO

PACKAGE = REPO / "lasium_tf"
# The plug-in modules of each registry: none may import another.
PLUGINS = {
    "task sources": ["lasium_tf.tasks.labelled", "lasium_tf.tasks.generated",
                     "lasium_tf.tasks.umtra", "lasium_tf.tasks.cactus"],
    "baselines": ["lasium_tf.baselines.simple",
                  "lasium_tf.baselines.embedding"],
    "learners": ["lasium_tf.learners.maml", "lasium_tf.learners.protonets"],
    "data sets": ["lasium_tf.datasets.omniglot",
                  "lasium_tf.datasets.mini_imagenet",
                  "lasium_tf.datasets.celeba", "lasium_tf.datasets.folder"],
    "generator kinds": ["lasium_tf.generators.gan", "lasium_tf.generators.vae",
                        "lasium_tf.generators.acai"],
}


def module_name(path: pathlib.Path) -> str:
  if path.is_relative_to(REPO / "models"):
    parts = ("lasium_tf", "models") + path.relative_to(
        REPO / "models").with_suffix("").parts
  else:
    parts = path.relative_to(REPO).with_suffix("").parts
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def sources():
  for root in (PACKAGE, REPO / "models"):
    for path in sorted(root.rglob("*.py")):
      yield module_name(path), path


MODULES = dict(sources())


def resolve(name: str):
  """The package module `name` stands for (a module, or the package whose
  attribute it imports), or None for another library's."""
  while name and name not in MODULES:
    name = name.rpartition(".")[0]
  return name or None


def imports_of(module: str, path: pathlib.Path):
  """Every package module `module` imports, anywhere in its file."""
  tree = ast.parse(path.read_text())
  package = module if path.name == "__init__.py" else module.rpartition(".")[0]
  found = set()
  for node in ast.walk(tree):
    names = []
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) -
                                            node.level + 1] + [base]).strip(".")
      names = [f"{base}.{a.name}" for a in node.names]
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr == "module"
          and isinstance(node.func.value, ast.Name)
          and node.func.value.id == "lazy" and node.args
          and isinstance(node.args[0], ast.Constant)):
      names = [node.args[0].value]
    for name in names:
      target = resolve(name)
      # `from lasium_tf.x import y` names lasium_tf.x.y or lasium_tf.x.
      if target and target != module:
        found.add(target)
  return found


GRAPH = {module: imports_of(module, path) for module, path in MODULES.items()}


def find_cycle(graph):
  """One import cycle as a list of modules, or None."""
  state, stack = {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == "open":
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = "done"
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def test_the_package_has_no_import_cycle():
  assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_the_cycle_finder_finds_one_in_a_function_body(tmp_path):
  """The check itself: an import inside a function closes a cycle."""
  (tmp_path / "a.py").write_text("import lasium_tf.run.experiment\n")
  (tmp_path / "b.py").write_text(
      "def f():\n  from lasium_tf import lazy\n"
      "  x = lazy.module('lasium_tf.config')\n")
  assert imports_of("lasium_tf.a", tmp_path / "a.py") == {
      "lasium_tf.run.experiment"}
  assert imports_of("lasium_tf.b", tmp_path / "b.py") == {
      "lasium_tf.lazy", "lasium_tf.config"}
  assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
  assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("kind", sorted(PLUGINS))
def test_no_plugin_imports_a_sibling(kind):
  for module in PLUGINS[kind]:
    siblings = set(PLUGINS[kind]) - {module}
    assert not GRAPH[module] & siblings, (module, GRAPH[module] & siblings)


def test_the_registries_and_descriptions_import_no_engine():
  """The bottom layers, which every plug-in may import: errors, registry,
  lazy loading, settings, files and the registries' own packages import
  nothing above them (no config, no run engine)."""
  bottom = {"lasium_tf.errors", "lasium_tf.registry", "lasium_tf.lazy",
            "lasium_tf.core.guards",
            "lasium_tf.settings", "lasium_tf.core.files", "lasium_tf.core.stopping",
            "lasium_tf.tasks", "lasium_tf.baselines", "lasium_tf.core"}
  for module in bottom:
    assert GRAPH[module] <= bottom | {"lasium_tf"}, (module, GRAPH[module])


# The layers of docs/architecture.md, bottom first, by module prefix (the
# longest prefix that matches a module names its layer).
LAYERS = (
    ("base", ("lasium_tf", "lasium_tf.errors", "lasium_tf.registry",
              "lasium_tf.lazy", "lasium_tf.settings", "lasium_tf.core",
              "lasium_tf.data.common", "lasium_tf.tasks", "lasium_tf.learners",
              "lasium_tf.learners.normalizations", "lasium_tf.generators",
              "lasium_tf.datasets", "lasium_tf.baselines")),
    ("config", ("lasium_tf.config",)),
    ("building blocks", (
        "lasium_tf.data", "lasium_tf.models", "lasium_tf.tasks.episodes",
        "lasium_tf.tasks.augment", "lasium_tf.tasks.lasium",
        "lasium_tf.tasks.cluster", "lasium_tf.tasks.encoders",
        "lasium_tf.learners.base", "lasium_tf.learners.maml_core",
        "lasium_tf.learners.protonets_core", "lasium_tf.learners.batched",
        "lasium_tf.learners.batchnorm", "lasium_tf.generators.base",
        "lasium_tf.generators.training", "lasium_tf.generators.checkpoints",
        "lasium_tf.generators.loading", "lasium_tf.generators.interface",
        "lasium_tf.generators.gan_objective", "lasium_tf.run.evaluation",
        "lasium_tf.records.rundir", "lasium_tf.records.common",
        "lasium_tf.records.pictures")),
    ("plug-ins", (
        "lasium_tf.tasks.labelled", "lasium_tf.tasks.generated",
        "lasium_tf.tasks.umtra", "lasium_tf.tasks.cactus",
        "lasium_tf.baselines.simple", "lasium_tf.baselines.embedding",
        "lasium_tf.learners.maml", "lasium_tf.learners.protonets",
        "lasium_tf.datasets.omniglot", "lasium_tf.datasets.mini_imagenet",
        "lasium_tf.datasets.celeba", "lasium_tf.datasets.folder",
        "lasium_tf.generators.gan", "lasium_tf.generators.vae",
        "lasium_tf.generators.acai")),
    ("run engine and records", ("lasium_tf.run", "lasium_tf.records",
                                "lasium_tf.classifier")),
    ("programs", ("lasium_tf.main", "lasium_tf.few_shot", "lasium_tf.select",
                  "lasium_tf.report", "lasium_tf.plots", "lasium_tf.__main__",
                  "lasium_tf.data.download")),
)


def layer_of(module: str) -> int:
  matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS)
             for prefix in prefixes
             if module == prefix or module.startswith(prefix + ".")]
  return max(matches)[1]


def test_no_module_imports_a_layer_above_its_own():
  """What a building block needs lives below it: a generator's loop does
  not reach into the run engine, a baseline does not import a program."""
  upward = [f"{m} ({LAYERS[layer_of(m)][0]}) -> {d} ({LAYERS[layer_of(d)][0]})"
            for m, deps in GRAPH.items() for d in deps
            if layer_of(d) > layer_of(m)]
  assert not upward, upward


def test_the_layer_check_finds_an_upward_import():
  assert layer_of("lasium_tf.generators.training") < layer_of(
      "lasium_tf.run.experiment")
  assert layer_of("lasium_tf.generators.gan") > layer_of(
      "lasium_tf.generators.training")
  assert layer_of("lasium_tf.errors") == 0


def test_the_top_of_the_package_holds_programs_and_the_base_only():
  """At most 12 modules directly in lasium_tf/ (issue 45): the programs,
  the classifier users import, and the bottom layer plug-ins build on."""
  top = sorted(p.stem for p in PACKAGE.glob("*.py"))
  assert len(top) <= 12, top


def test_no_function_or_module_is_too_long_to_read():
  """No function over 80 lines, no module over 500 (issue 45)."""
  long = []
  for module, path in MODULES.items():
    if not module.startswith("lasium_tf.") or "models" in module:
      continue
    text = path.read_text()
    if len(text.splitlines()) > 500:
      long.append(f"{module}: {len(text.splitlines())} lines")
    for node in ast.walk(ast.parse(text)):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        size = node.end_lineno - node.lineno + 1
        if size > 80:
          long.append(f"{module}.{node.name}: {size} lines")
  assert not long, long
