/**
 * The shape of the code base, checked like behaviour (issue 16): no import cycles among the
 * project's modules, and no source module under src/ or routes/ over 400 lines.
 *
 * The module graph is Deno's own (`deno info --json`, code and type dependencies), from
 * src/main.ts and from every other module of src/ and routes/ it does not reach (the CLIs), so
 * nothing needs the network or a server.
 *
 * @module
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname);
/** The source directories both checks cover. */
const SOURCE_DIRS = ["src", "routes"];
/** The longest a source module may be, in lines. */
const MAX_LINES = 400;

/** Every .ts/.tsx/.js/.mjs file under `dir` (relative to the repository), sorted. */
async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(new URL(rel, ROOT))) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && /\.(ts|tsx|js|mjs)$/.test(entry.name)) out.push(path);
    }
  };
  await walk(dir);
  return out.sort();
}

/** A project module: a file of this repository outside node_modules. */
function projectPath(specifier: string): string | undefined {
  if (!specifier.startsWith(ROOT.href)) return undefined;
  const rel = decodeURIComponent(specifier.slice(ROOT.href.length));
  return rel.startsWith("node_modules/") ? undefined : rel;
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
  error?: string;
}

/** The project's import graph from `root` (repository-relative), as `deno info` sees it. */
async function importGraph(root: string, graph: Map<string, Set<string>>): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--no-lock", root],
    cwd: ROOT_PATH,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(
    output.success,
    `deno info ${root} failed:\n${new TextDecoder().decode(output.stderr)}`,
  );
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { modules: InfoModule[] };
  for (const module of info.modules) {
    const from = projectPath(module.specifier);
    if (from === undefined) continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const dependency of module.dependencies ?? []) {
      for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
        const to = target === undefined ? undefined : projectPath(target);
        if (to !== undefined) edges.add(to);
      }
    }
  }
}

/** The strongly connected components of `graph` with a cycle in them (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** One cycle through `component`, as a path back to its start (shortest from its first). */
function cyclePath(component: string[], graph: Map<string, Set<string>>): string {
  const members = new Set(component);
  const start = component[0];
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const w of graph.get(queue[i]) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let v = queue[i]; v !== start; v = previous.get(v)!) path.splice(1, 0, v);
        return [...path, start].join(" → ");
      }
      if (!previous.has(w)) {
        previous.set(w, queue[i]);
        queue.push(w);
      }
    }
  }
  return component.join(", ");
}

Deno.test("structure: no import cycles among the project's modules", async () => {
  const graph = new Map<string, Set<string>>();
  await importGraph("src/main.ts", graph);
  // the modules src/main.ts does not reach (command-line tools), each with what it imports
  for (const dir of SOURCE_DIRS) {
    for (const file of await sourceFiles(dir)) {
      if (!graph.has(file)) await importGraph(file, graph);
    }
  }
  const found = cycles(graph);
  assert.deepEqual(
    found.map((c) => cyclePath(c, graph)),
    [],
    `${found.length} import cycle(s); every module of each:\n` +
      found.map((c) => `  ${c.join(", ")}`).join("\n"),
  );
});

Deno.test(`structure: no module under src/ or routes/ over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const dir of SOURCE_DIRS) {
    for (const file of await sourceFiles(dir)) {
      const text = await Deno.readTextFile(new URL(file, ROOT));
      const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      if (lines > MAX_LINES) long.push(`${file}: ${lines} lines`);
    }
  }
  assert.deepEqual(long, [], `split these modules (${MAX_LINES} lines at most):`);
});
