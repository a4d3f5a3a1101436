// Starts the reference PDS (@atproto/pds from the npm registry) the way its
// official distribution does: PDS.create(envToCfg(env), envToSecrets(env)),
// configured only through the PDS_* environment variables.  Used by bench/run.
//
//   REF_DIR   the folder whose node_modules holds @atproto/pds (required)
//   PDS_*     the reference's own settings (PDS_PORT, PDS_DATA_DIRECTORY, ...)
//
// Listens on 127.0.0.1 only (Node's listen(port) would bind every interface).
// Prints "ref listening on <port>" when ready; SIGTERM/SIGINT stop it.
'use strict';

const net = require('net');
const path = require('path');
const { pathToFileURL } = require('url');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    return listen.call(this, args[0], '127.0.0.1', cb);
  }
  if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

async function main() {
  const refDir = process.env.REF_DIR;
  if (!refDir) throw new Error('REF_DIR is not set');
  const entry = require.resolve('@atproto/pds', { paths: [path.resolve(refDir)] });
  const { PDS, envToCfg, envToSecrets, readEnv } = await import(pathToFileURL(entry).href);

  const env = readEnv();
  const pds = await PDS.create(envToCfg(env), envToSecrets(env));
  await pds.start();
  console.log(`ref listening on ${env.port}`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await pds.destroy();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
