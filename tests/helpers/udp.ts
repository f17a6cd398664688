/**
 * UDP sockets for tests.
 *
 * @module
 */
import dgram from "node:dgram";

/** A `node:dgram` socket bound to 127.0.0.1:`port` (any free port by default); rejects, with the
 * socket closed, if the port is taken. */
export function boundUdp(port = 0): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  return new Promise((resolve, reject) => {
    socket.once("error", (e) => {
      socket.close();
      reject(e);
    });
    socket.bind(port, "127.0.0.1", () => resolve(socket));
  });
}
