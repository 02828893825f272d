#!/usr/bin/env node
// npm run mutate: a mutation-testing run over the security-critical code. Each mutant is one
// plausible bug (a check dropped, a bound loosened, a secret left in a message); it is applied to a
// scratch copy of the repository, the tests that cover that file run, and the mutant is "killed"
// when they fail (or hang past the timeout). The score is killed / all, and every survivor is
// listed: either a test is missing, or the mutant is equivalent (say why in mutants.js).
//
// MUTATE_ONLY=<regex> runs the mutants whose id or file matches. Not part of npm test: it takes
// about half an hour on two cores. Run it on an otherwise idle machine: a test file that times out
// under load counts as a kill, which would flatter the score.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mutants, testsFor } from './mutants.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const only = process.env.MUTATE_ONLY ? new RegExp(process.env.MUTATE_ONLY) : undefined
const selected = mutants.filter((m) => only === undefined || only.test(m.id) || only.test(m.file))

// The scratch copy: the committed sources and tests (HEAD, so that uncommitted edits never skew a
// score), with the installed node_modules and the built client linked in.
const work = mkdtempSync(join(tmpdir(), 'fastify-weapp-mutate-'))
const paths = ['lib', 'client/src', 'client/package.json', 'client/README.md', 'test', 'example', 'package.json', 'tsconfig.json', 'README.md']
execFileSync('tar', ['-x', '-C', work], { input: execFileSync('git', ['-C', root, 'archive', '--format=tar', 'HEAD', ...paths], { maxBuffer: 256 * 2 ** 20 }) })
// What the tests read but nothing mutates: the installed packages and the built client.
symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'))
symlinkSync(join(root, 'client/dist'), join(work, 'client/dist'))
const cleanup = () => rmSync(work, { recursive: true, force: true })
process.on('SIGINT', () => { cleanup(); process.exit(130) })

function runTests (files, stdio = 'ignore', limit = 300_000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'node_modules/tap/dist/esm/run.mjs'), '--disable-coverage', '--timeout=150', '--bail', '--reporter=tap', ...files], { cwd: work, stdio })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, limit)
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve(code === 0 && signal === null) })
  })
}

try {
  // The unmutated tests must pass, or the score means nothing.
  const allTests = [...new Set(selected.flatMap((m) => testsFor(m)))]
  // The whole selection at once takes longer than one mutant's tests: it has a limit of its own.
  if (!await runTests(allTests, 'ignore', 1_800_000) && !await runTests(allTests, ['ignore', 'inherit', 'inherit'], 1_800_000)) throw new Error(`the tests fail without any mutant: ${allTests.join(' ')}`)

  const results = []
  for (const mutant of selected) {
    const path = join(work, mutant.file)
    const original = readFileSync(path, 'utf8')
    const count = original.split(mutant.find).length - 1
    if (count !== 1) throw new Error(`${mutant.id}: the text to mutate occurs ${count} times in ${mutant.file}`)
    writeFileSync(path, original.replace(mutant.find, mutant.replace))
    const started = Date.now()
    const passed = await runTests(testsFor(mutant))
    writeFileSync(path, original)
    const result = { ...mutant, killed: !passed, seconds: (Date.now() - started) / 1000 }
    results.push(result)
    console.error(`${result.killed ? 'killed  ' : 'SURVIVED'} ${mutant.id} (${mutant.file}, ${result.seconds.toFixed(0)} s): ${mutant.bug}`)
  }

  const killed = results.filter((r) => r.killed).length
  const equivalent = results.filter((r) => !r.killed && r.equivalent !== undefined)
  const survivors = results.filter((r) => !r.killed && r.equivalent === undefined)
  const lines = ['', '| file | mutants | killed |', '|---|---:|---:|']
  for (const file of [...new Set(results.map((r) => r.file))]) {
    const of = results.filter((r) => r.file === file)
    lines.push(`| ${file} | ${of.length} | ${of.filter((r) => r.killed).length} |`)
  }
  const scored = results.length - equivalent.length
  lines.push('', `Killed ${killed} of ${results.length} mutants; ${equivalent.length} judged equivalent; score ${(100 * killed / Math.max(1, scored)).toFixed(1)}% of the non-equivalent ones.`)
  for (const r of equivalent) lines.push(`- equivalent, survived: ${r.id}: ${r.equivalent}`)
  for (const r of survivors) lines.push(`- SURVIVED: ${r.id} (${r.file}): ${r.bug}`)
  console.log(lines.join('\n'))
  process.exitCode = survivors.length === 0 ? 0 : 1
} finally {
  cleanup()
}
