// A local did:plc directory: the real @did-plc/server (its validation, its
// routes) on an in-memory database, made durable by an append-only log of
// accepted operations that is replayed at start.
//
//   PLC_PORT (2582)  PLC_HOST (127.0.0.1)  PLC_LOG (file, optional)
//
// Listens on loopback only.  Prints "plc listening on <url>" when ready.
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const { PlcServer, MockDatabase } = require('@did-plc/server');

const host = process.env.PLC_HOST || '127.0.0.1';
const port = parseInt(process.env.PLC_PORT || '2582', 10);
const logFile = process.env.PLC_LOG || '';

// express listens on every interface unless told otherwise
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number') {
    const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
    return listen.call(this, args[0], host, cb);
  }
  return listen.apply(this, args);
};

async function main() {
  const db = new MockDatabase();

  if (logFile) {
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    if (fs.existsSync(logFile)) {
      const lines = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
      let replayed = 0;
      for (const line of lines) {
        const { did, op } = JSON.parse(line);
        try {
          await db.validateAndAddOp(did, op);
          replayed++;
        } catch (err) {
          console.error(`plc: skipping a logged op for ${did}: ${err.message}`);
        }
      }
      console.log(`plc: replayed ${replayed} operations from ${logFile}`);
    }

    const add = db.validateAndAddOp.bind(db);
    db.validateAndAddOp = async (did, op) => {
      await add(did, op);
      fs.appendFileSync(logFile, JSON.stringify({ did, op }) + '\n');
    };
  }

  const server = PlcServer.create({ db, port });
  await server.start();
  console.log(`plc listening on http://${host}:${port}`);

  const stop = async () => {
    await server.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
