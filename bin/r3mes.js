#!/usr/bin/env node
// Entry point of the `r3mes` command. Plain JavaScript so that it can explain itself on a
// Node.js too old to run the TypeScript sources (which need native type stripping).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `r3mes needs Node.js >= 22.18 (this is ${process.versions.node}).\n` +
      'Run it through npm (`npm start`, `npx r3mes`), which uses the Node.js that `npm ci` installs.\n',
  )
  process.exit(1)
}
const { runCli, processIo } = await import('../src/cli/main.ts')
// The first Ctrl-C asks the running command to stop cleanly; a second one exits at once.
const interrupt = new AbortController()
process.once('SIGINT', () => {
  process.stderr.write('\nr3mes: interrupted, stopping (Ctrl-C again to force)\n')
  interrupt.abort(new Error('interrupted'))
  process.once('SIGINT', () => process.exit(130))
})
// SIGTERM (a testnet stopping its nodes, a service manager) stops the command the same way.
process.once('SIGTERM', () => interrupt.abort(new Error('terminated')))
process.exitCode = await runCli(process.argv.slice(2), processIo(interrupt.signal))
