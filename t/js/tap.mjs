// TAP output for the Node checks (replayed by t/lib/PDSTest.pm's node_tap,
// or read by prove directly).

let n = 0
let failed = 0

export function ok(cond, name, diag) {
  n++
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`)
  if (!cond) {
    failed++
    if (diag !== undefined) console.log(`# ${String(diag).split('\n').join('\n# ')}`)
  }
  return cond
}

export function is(got, want, name) {
  return ok(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
}

// the plan and the exit status (1 if anything failed)
export function done() {
  console.log(`1..${n}`)
  process.exit(failed ? 1 : 0)
}

// an exception that ended the script: one failure, then done()
export function bail(err) {
  ok(false, `unexpected error: ${err?.message || err}`, err?.stack)
  done()
}
