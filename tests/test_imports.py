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
  (tmp_path / "a.py").write_text("import lasium_tf.experiment\n")
  (tmp_path / "b.py").write_text(
      "def f():\n  from lasium_tf import lazy\n"
      "  x = lazy.module('lasium_tf.config')\n")
  assert imports_of("lasium_tf.a", tmp_path / "a.py") == {
      "lasium_tf.experiment"}
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
            "lasium_tf.settings", "lasium_tf.files", "lasium_tf.stopping",
            "lasium_tf.tasks", "lasium_tf.baselines"}
  for module in bottom:
    assert GRAPH[module] <= bottom | {"lasium_tf"}, (module, GRAPH[module])
