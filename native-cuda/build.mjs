#!/usr/bin/env node
// Builds the native CPU backend (native-cuda/build/r3mes_native.node) with g++ directly against
// the npm packages node-addon-api and node-api-headers: Node-API is ABI-stable, and on Linux an
// addon needs no import library, so no node-gyp and no download of Node's headers.
//
// Run by `npm ci` / `npm install` (the package's install script). It never fails the install:
// when the compiler is missing or the build fails it prints one line, and the project runs on
// the `ts` backend.
//
//   node native-cuda/build.mjs               the deterministic addon (the `cpu` backend)
//   node native-cuda/build.mjs --fast-math   a bench-only copy built with -ffast-math, FMA
//                                            and -march=native (build/r3mes_native_fastmath.node)
//   --verbose                                print every compiler command
//
// Where nvcc and a GPU are both present it then runs build-cuda.sh for the `cuda` backend
// (R3MES_SKIP_CUDA=1 skips that).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const src = join(here, 'src')
const out = join(here, 'build')
const fastMath = process.argv.includes('--fast-math')
const verbose = process.argv.includes('--verbose')
const target = join(out, fastMath ? 'r3mes_native_fastmath.node' : 'r3mes_native.node')
const cxx = process.env.CXX || 'g++'

function say(line) {
  process.stdout.write(`${line}\n`)
}

function giveUp(reason) {
  // No stale addon survives a failed build: the message below promises the ts backend.
  if (existsSync(target)) rmSync(target, { force: true })
  rmSync(join(out, fastMath ? 'obj-fastmath' : 'obj'), { recursive: true, force: true })
  const what = fastMath ? 'fast-math bench addon' : 'native CPU backend'
  const fallback = fastMath ? 'the determinism-cost benchmark is skipped' : 'r3mes uses the ts backend'
  say(`r3mes: ${what} not built (${reason}); ${fallback}`)
  process.exit(0)
}

if (process.env.R3MES_SKIP_NATIVE === '1') giveUp('R3MES_SKIP_NATIVE=1')
if (process.platform !== 'linux' && process.platform !== 'darwin') giveUp(`unsupported platform ${process.platform}`)
const probe = spawnSync(cxx, ['--version'], { encoding: 'utf8' })
if (probe.error !== undefined || probe.status !== 0) giveUp(`no C++ compiler (${cxx})`)

const addonApi = join(root, 'node_modules', 'node-addon-api')
const apiHeaders = join(root, 'node_modules', 'node-api-headers', 'include')
if (!existsSync(join(addonApi, 'napi.h')) || !existsSync(join(apiHeaders, 'node_api.h'))) {
  giveUp('node-addon-api or node-api-headers is not installed')
}

const x64 = process.arch === 'x64'
// Deterministic flags: every float op rounded on its own, no contraction into FMA, no
// reassociation. Bench-only flags: everything the determinism rule forbids.
const mathFlags = fastMath
  ? ['-ffast-math', '-ffp-contract=fast', '-march=native']
  : ['-ffp-contract=off', '-fno-fast-math']
const common = [
  '-std=c++17',
  '-O3',
  '-fPIC',
  '-fvisibility=hidden',
  '-Wall',
  '-Wextra',
  '-Wno-maybe-uninitialized',
  ...mathFlags,
  ...(fastMath ? ['-DR3MES_FAST_MATH_BUILD'] : []),
]
const units = [
  { file: 'binding/addon.cpp', flags: ['-DNAPI_VERSION=8', `-I${apiHeaders}`, `-I${addonApi}`] },
  { file: 'cpu/dispatch.cpp', flags: [] },
  { file: 'cpu/table.cpp', flags: [] },
  { file: 'cpu/isa_scalar.cpp', flags: [] },
  ...(x64
    ? [
        { file: 'cpu/isa_avx2.cpp', flags: fastMath ? [] : ['-mavx2'] },
        {
          file: 'cpu/isa_avx512.cpp',
          flags: fastMath ? [] : ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mbmi2'],
        },
      ]
    : []),
]

const objDir = join(out, fastMath ? 'obj-fastmath' : 'obj')
mkdirSync(objDir, { recursive: true })

function run(args) {
  if (verbose) say([cxx, ...args].join(' '))
  return new Promise((resolve) => {
    const child = spawn(cxx, args, { stdio: ['ignore', 'inherit', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
    })
    child.on('error', (e) => resolve({ ok: false, err: String(e) }))
    child.on('close', (code) => resolve({ ok: code === 0, err }))
  })
}

// Two compilers at a time: the machines this runs on are small.
const objects = []
const queue = units.map((u) => ({ ...u, obj: join(objDir, `${u.file.replace(/[/.]/g, '_')}.o`) }))
let failure
async function worker() {
  for (;;) {
    const u = queue.shift()
    if (u === undefined || failure !== undefined) return
    const r = await run([...common, ...u.flags, '-c', join(src, u.file), '-o', u.obj])
    if (!r.ok) failure = `${u.file}: ${r.err.split('\n').find((l) => l.includes('error')) ?? r.err.trim()}`
    else if (verbose && r.err.trim() !== '') process.stderr.write(r.err)
    objects.push(u.obj)
  }
}
await Promise.all([worker(), worker()])
if (failure !== undefined) giveUp(`compile failed: ${failure.slice(0, 300)}`)

const tmp = `${target}.tmp`
// Export only Node-API's two entry points: the bench loads two builds of these kernels into one
// process, and neither may bind to the other's copies.
const versionScript = join(out, fastMath ? 'exports-fastmath.map' : 'exports.map')
writeFileSync(versionScript, '{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n')
const linkFlags =
  process.platform === 'darwin'
    ? ['-bundle', '-undefined', 'dynamic_lookup']
    : ['-shared', '-pthread', `-Wl,--version-script=${versionScript}`, '-ldl']
const link = await run([...objects, '-O3', ...linkFlags, '-o', tmp])
if (!link.ok) giveUp(`link failed: ${link.err.trim().slice(0, 300)}`)
renameSync(tmp, target)
rmSync(objDir, { recursive: true, force: true })
rmSync(versionScript, { force: true })
say(`r3mes: built ${fastMath ? 'fast-math bench addon' : 'native CPU backend'} ${target.slice(root.length + 1)}`)

// The CUDA backend is a second library that the addon opens at run time. It is built here only
// where it can be used at once (nvcc and a GPU both present), because compiling CUDA takes
// minutes on a small machine; elsewhere `npm run build:cuda` builds it on request. Its failure
// never fails the install either: the addon then reports cuda as unavailable, with the reason.
if (!fastMath && process.env.R3MES_SKIP_CUDA !== '1') {
  const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' })
  const gpu = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' })
  if (nvcc.status === 0 && gpu.status === 0 && /GPU \d/.test(gpu.stdout)) {
    const cuda = spawnSync('bash', [join(here, 'build-cuda.sh')], { stdio: 'inherit' })
    if (cuda.status !== 0) say('r3mes: CUDA backend not built (build-cuda.sh failed); the cuda backend is unavailable')
  }
}
