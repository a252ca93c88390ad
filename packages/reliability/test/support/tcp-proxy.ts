/**
 * A TCP proxy in front of a database that can go silent: `forward` passes bytes both ways; `stall` stops passing
 * them on every open connection and accepts new ones without ever connecting them, the way a hung network or a
 * frozen server looks to a driver (its connect and query timeouts fire).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `forward` (the default) or `stall`. */
  mode: "forward" | "stall";
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port to `127.0.0.1:targetPort`. */
export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const proxy: { mode: "forward" | "stall" } = { mode: "forward" };
  const server: Server = createServer((inbound) => {
    sockets.add(inbound);
    inbound.on("close", () => sockets.delete(inbound));
    inbound.on("error", () => {});
    if (proxy.mode === "stall") return; // accepted, never answered
    const outbound = tcpConnect(targetPort, "127.0.0.1");
    sockets.add(outbound);
    outbound.on("close", () => {
      sockets.delete(outbound);
      inbound.destroy();
    });
    outbound.on("error", () => inbound.destroy());
    inbound.on("close", () => outbound.destroy());
    inbound.on("data", (chunk) => {
      if (proxy.mode === "forward") outbound.write(chunk);
    });
    outbound.on("data", (chunk) => {
      if (proxy.mode === "forward") inbound.write(chunk);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (typeof address !== "object" || address === null) return reject(new Error("no address"));
      resolve({
        port: address.port,
        get mode() {
          return proxy.mode;
        },
        set mode(value) {
          proxy.mode = value;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
