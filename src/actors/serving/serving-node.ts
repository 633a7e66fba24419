/**
 * A serving node on its own (`r3mes serve`): one HTTP server carrying the completion API for a
 * model source. A full node builds the same pieces itself so that its status route shares the
 * server: a `Router`, `completionsApi(...)(components).mount(router)`, `startHttpServer`.
 */
import type { RuntimeComponents } from '../../runtime/components.ts'
import { Router, type RunningHttpServer, startHttpServer } from '../http/http-server.ts'
import { type CompletionsApiInit, completionsApi } from './completions-api.ts'

export interface ServingNodeInit extends CompletionsApiInit {
  /** @default '127.0.0.1' */
  readonly host?: string
  /** 0 picks a free port. @default 0 */
  readonly port?: number
}

export interface ServingNode extends RunningHttpServer {
  /** The router the API is mounted on, for more routes (e.g. the node's status). */
  readonly router: Router
}

export async function startServingNode(init: ServingNodeInit, components: RuntimeComponents): Promise<ServingNode> {
  const router = new Router()
  const api = completionsApi(init)(components)
  api.mount(router)
  const server = await startHttpServer(
    {
      router,
      ...(init.host !== undefined ? { host: init.host } : {}),
      ...(init.port !== undefined ? { port: init.port } : {}),
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
