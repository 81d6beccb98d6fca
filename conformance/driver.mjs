// Drives the http-cache-tests suite (npm package) for conformance/run.py.
//
//   node driver.mjs list  <pkgdir> <private|shared>
//   node driver.mjs run   <pkgdir> <private|shared> <baseUrl> [testId]
//   node driver.mjs serve <pkgdir>
//
// "private" is what the suite's own browser runner (test-browser.html) does:
// tests/index.mjs with the browser-cache flag set (runTests(..., true)).
// "shared" is what the stock CLI (cli.mjs) does: tests/index.mjs plus
// tests/surrogate-control.mjs, browser-cache flag unset.
//
// "run" prints one JSON document on stdout:
//   {"results": <getResults(), exactly what cli.mjs prints>,
//    "requests_sent": <HTTP requests node made, counted per socket request>}
// With a testId it runs that one test with the suite's dump output (stderr).
//
// "serve" starts the suite's server (server/server.mjs) bound to 127.0.0.1
// only, on the port in $npm_config_port (0 = any free port); the server
// prints "Listening on http://127.0.0.1:<port>/".
import http from 'node:http'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const [cmd, pkgDir, mode, baseUrl, testId] = process.argv.slice(2)

function pkgImport (rel) {
  return import(pathToFileURL(path.join(pkgDir, rel)).href)
}

async function selectedSuites () {
  const tests = (await pkgImport('tests/index.mjs')).default
  if (mode === 'shared') {
    tests.push((await pkgImport('tests/surrogate-control.mjs')).default)
  } else if (mode !== 'private') {
    throw new Error(`unknown mode ${mode}`)
  }
  return tests
}

function isSelected (test, browserCache) {
  // the same filter as client/runner.mjs
  if (test.browser_only === true && !browserCache) return false
  if (test.browser_skip === true && browserCache) return false
  return true
}

async function list () {
  const browserCache = mode === 'private'
  const out = []
  for (const suite of await selectedSuites()) {
    for (const test of suite.tests) {
      if (!isSelected(test, browserCache)) continue
      out.push({
        id: test.id,
        name: test.name,
        kind: test.kind || 'required',
        depends_on: test.depends_on || [],
        suite_id: suite.id,
        suite_name: suite.name
      })
    }
  }
  process.stdout.write(JSON.stringify(out))
}

async function run () {
  // Count every HTTP request node issues (redirects node-fetch follows included).
  let requestsSent = 0
  const origAddRequest = http.Agent.prototype.addRequest
  http.Agent.prototype.addRequest = function (...args) {
    requestsSent++
    return origAddRequest.apply(this, args)
  }
  const fetch = createRequire(path.join(pkgDir, 'package.json'))('node-fetch')
  const { runTests, getResults } = await pkgImport('client/runner.mjs')
  let suites = await selectedSuites()
  if (testId) {
    // as cli.mjs does for --id
    suites = suites.map(s => ({ ...s, tests: s.tests.filter(t => t.id === testId) }))
      .filter(s => s.tests.length)
    if (!suites.length) throw new Error(`no test ${testId} in ${mode} selection`)
    suites[0].tests[0].dump = true
    // dump output goes to stdout in the suite; keep stdout for our JSON
    console.log = (...args) => process.stderr.write(args.join(' ') + '\n')
  }
  await runTests(suites, fetch, mode === 'private', baseUrl)
  process.stdout.write(JSON.stringify({ results: getResults(), requests_sent: requestsSent }))
}

async function serve () {
  const origListen = http.Server.prototype.listen
  http.Server.prototype.listen = function (port, ...rest) {
    return origListen.call(this, Number(port), '127.0.0.1', ...rest)
  }
  process.chdir(pkgDir)
  await pkgImport('server/server.mjs')
}

const commands = { list, run, serve }
if (!(cmd in commands)) {
  process.stderr.write('usage: node driver.mjs list|run|serve <pkgdir> ...\n')
  process.exit(2)
}
commands[cmd]().catch(err => {
  process.stderr.write(`driver error: ${err.stack || err}\n`)
  process.exit(1)
})
