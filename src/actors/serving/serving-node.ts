/**
 * A serving node on its own (`r3mes serve`): one HTTP server carrying the completion API for a
 * model source. It is the node API's code path (node-api.ts) with the completion routes alone:
 * a `Router`, `completionsApi(...)(components).mount(router)`, `startHttpServer`, so both
 * answer bodies, errors and bounds alike.
 */
import type { RuntimeComponents } from '../../runtime/components.ts'
import { Router, type RunningHttpServer, type ServerBounds, startHttpServer } from '../http/http-server.ts'
import { type CompletionsApiInit, completionsApi } from './completions-api.ts'

export interface ServingNodeInit extends CompletionsApiInit {
  /** @default '127.0.0.1' */
  readonly host?: string
  /** 0 picks a free port. @default 0 */
  readonly port?: number
  /** Bounds on what a client may make the server hold. @default the HTTP limits in src/runtime/limits.ts */
  readonly bounds?: ServerBounds
}

export interface ServingNode extends RunningHttpServer {
  /** The router the API is mounted on, for more routes (e.g. the node's status). */
  readonly router: Router
}

export async function startServingNode(init: ServingNodeInit, components: RuntimeComponents): Promise<ServingNode> {
  const router = new Router()
  const { host, port, bounds, ...apiInit } = init
  const api = completionsApi(apiInit)(components)
  api.mount(router)
  const server = await startHttpServer(
    {
      router,
      ...(host !== undefined ? { host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(bounds !== undefined ? { bounds } : {}),
    },
    components,
  )
  return {
    ...server,
    router,
    close: async () => {
      await server.close()
      await api.close()
    },
  }
}
