/**
 * The chain messages `r3mes tx` sends, from its command-line words: every bad amount, address,
 * role, parameter or option is an InvalidArgumentError naming it, before the node is asked
 * anything. What a message needs of the chain (the challenge bond's default) is filled from
 * the chain's parameters when the transaction is built.
 */
import { isAddress } from '../chain/keys.ts'
import { defaultParams, isParamName, type Params, parseParam, ROLES, type Role } from '../chain/params.ts'
import type { Msg } from '../chain/tx.ts'
import { isCid } from '../codec/cid.ts'
import { InvalidArgumentError, isR3mesError } from '../runtime/errors.ts'
import { isAmount, toBaseUnits } from '../topology/amount.ts'
import type { ParsedCommandArgs } from './command.ts'
import { intOption, oneOf, stringOption } from './options.ts'

/** The chain parameters a message may need, as `GET /query/params` answers them. */
export type ChainParamsJson = Readonly<Record<string, string | number>>

/** An action's message, once the chain's parameters are known. */
export interface TxPlan {
  /** One line saying what the transaction does, for the output. */
  readonly summary: string
  build(params: ChainParamsJson): Msg
}

/** The least bond a challenge or an appeal takes (bondMultiple × baseReward), from the params a node answers. */
function leastBondOf(params: ChainParamsJson): bigint {
  return BigInt(params.baseReward ?? 0) * BigInt(params.bondMultiple ?? 0)
}

export const TX_ACTIONS = ['send', 'stake', 'unbond', 'register', 'challenge', 'appeal', 'propose', 'vote'] as const
export type TxAction = (typeof TX_ACTIONS)[number]

const AMOUNT_HELP = 'an amount of R3MES (e.g. 10, 0.5 or 2.25r3mes) or of base units (e.g. 500ur3mes)'

/**
 * An amount as the command line writes it: R3MES with at most 6 decimals (`10`, `0.5`,
 * `10r3mes`) or whole base units (`500ur3mes`); in base units. Zero is refused (`what` says
 * where it was given).
 */
export function parseAmountArg(text: string, what: string): bigint {
  const t = text.trim().toLowerCase()
  let units: bigint | undefined
  const base = /^(0|[1-9][0-9]{0,30})ur3mes$/.exec(t)
  if (base !== null) units = BigInt(base[1] as string)
  else {
    const tokens = t.endsWith('r3mes') ? t.slice(0, -'r3mes'.length).trim() : t
    if (isAmount(tokens)) units = toBaseUnits(tokens)
  }
  if (units === undefined) throw new InvalidArgumentError(`${what} must be ${AMOUNT_HELP}, got '${text}'`)
  if (units === 0n) throw new InvalidArgumentError(`${what} must be more than 0, got '${text}'`)
  return units
}

function address(text: string | undefined, what: string): string {
  if (!isAddress(text))
    throw new InvalidArgumentError(`${what} must be an account address (r3mes1…, lower case), got '${text ?? ''}'`)
  return text
}

function arity(action: string, args: readonly string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max)
    throw new InvalidArgumentError(`r3mes tx ${action} takes ${usage}; got ${args.length} argument(s)`)
}

function paramChange(name: string, value: string): [string, string | number] {
  if (!isParamName(name))
    throw new InvalidArgumentError(
      `'${name}' is not a chain parameter; \`r3mes query params\` lists them (${Object.keys(defaultParams).length})`,
    )
  const asJson: string | number = typeof defaultParams[name] === 'bigint' ? value : Number(value)
  try {
    parseParam(name as keyof Params, asJson, name)
  } catch (error) {
    if (isR3mesError(error))
      throw new InvalidArgumentError(
        `parameter ${name}: ${error.message.replace(/^genesis field '[^']*': /, '')}${typeof asJson === 'string' ? ' (in base units, ur3mes)' : ''}`,
      )
    throw error
  }
  return [name, asJson]
}

/** The plan of `r3mes tx <action> <args…>`; throws InvalidArgumentError naming what is wrong. */
export function planTx(action: string, args: readonly string[], values: ParsedCommandArgs['values']): TxPlan {
  const a = oneOf(action, TX_ACTIONS, 'the action (r3mes tx <action>)')
  switch (a) {
    case 'send': {
      arity(a, args, 2, 2, '<to> <amount>')
      const to = address(args[0], 'the recipient')
      const amount = parseAmountArg(args[1] as string, 'the amount to send')
      return { summary: `send ${args[1]} to ${to}`, build: () => ({ type: 'transfer', to, amount }) }
    }
    case 'stake':
    case 'unbond': {
      arity(a, args, 1, 1, '<amount>')
      const amount = parseAmountArg(args[0] as string, `the amount to ${a}`)
      return {
        summary: `${a} ${args[0]}`,
        build: () => ({ type: a === 'stake' ? 'stake' : 'unstake', amount }),
      }
    }
    case 'register': {
      arity(a, args, 1, 1, '<role>[,<role>…]')
      const roles = [
        ...new Set((args[0] as string).split(',').map((r) => oneOf(r.trim(), ROLES, 'each role') as Role)),
      ].sort()
      const subnet = values.subnet === undefined ? null : intOption(values, 'subnet', 0, 0, 1023)
      if (roles.includes('miner') && subnet === null)
        throw new InvalidArgumentError('a miner registers for one subnet: add --subnet K', { option: 'subnet' })
      return {
        summary: `register as ${roles.join(', ')}${subnet === null ? '' : ` in subnet ${subnet}`}`,
        build: () => ({ type: 'register', roles, subnet }),
      }
    }
    case 'challenge': {
      arity(a, args, 1, 1, '<claimId>')
      const claimId = args[0] as string
      if (claimId.length === 0 || claimId.length > 160)
        throw new InvalidArgumentError(`the claim id must be 1 to 160 characters, got '${claimId}'`)
      const bond = values.bond === undefined ? undefined : parseAmountArg(stringOption(values, 'bond', ''), '--bond')
      const trace = values.trace === undefined ? undefined : stringOption(values, 'trace', '')
      if (trace !== undefined && !isCid(trace))
        throw new InvalidArgumentError(`--trace must be the CID of a step trace, got '${trace}'`, { option: 'trace' })
      return {
        summary: `challenge claim ${claimId}`,
        build: (params) => ({
          type: 'challenge',
          claimId,
          bond: bond ?? leastBondOf(params),
          ...(trace === undefined ? {} : { trace }),
        }),
      }
    }
    case 'appeal': {
      arity(a, args, 1, 1, '<challengeId>')
      const challengeId = args[0] as string
      if (challengeId.length === 0 || challengeId.length > 32)
        throw new InvalidArgumentError(`the challenge id must be 1 to 32 characters, got '${challengeId}'`)
      const bond = values.bond === undefined ? undefined : parseAmountArg(stringOption(values, 'bond', ''), '--bond')
      return {
        summary: `appeal the verifier's verdict on challenge ${challengeId}`,
        build: (params) => ({
          type: 'appeal',
          challengeId,
          bond: bond ?? leastBondOf(params),
        }),
      }
    }
    case 'propose': {
      const [kind, ...rest] = args
      if (kind === 'param' || kind === 'params') {
        if (rest.length === 0 || rest.length % 2 !== 0)
          throw new InvalidArgumentError(
            `r3mes tx propose param takes <name> <value> pairs; got ${rest.length} argument(s)`,
          )
        const changes: Record<string, string | number> = {}
        for (let i = 0; i < rest.length; i += 2) {
          const [name, value] = paramChange(rest[i] as string, rest[i + 1] as string)
          changes[name] = value
        }
        return {
          summary: `propose ${Object.entries(changes)
            .map(([k, v]) => `${k} = ${v}`)
            .join(', ')}`,
          build: () => ({ type: 'propose', content: { kind: 'params', changes } }),
        }
      }
      if (kind === 'dataset') {
        arity('propose dataset', rest, 3, 3, '<cid> <name> <shardCount>')
        const [cid, name, shards] = rest as [string, string, string]
        if (!isCid(cid)) throw new InvalidArgumentError(`the data set must be named by its CID, got '${cid}'`)
        if (name.length === 0 || name.length > 64)
          throw new InvalidArgumentError(`the data set name must be 1 to 64 characters, got '${name}'`)
        const shardCount = /^[1-9][0-9]{0,6}$/.test(shards) ? Number(shards) : Number.NaN
        if (!(shardCount <= 1_000_000))
          throw new InvalidArgumentError(`the shard count must be an integer in [1, 1000000], got '${shards}'`)
        return {
          summary: `propose data set ${name} (${cid}, ${shardCount} shards)`,
          build: () => ({ type: 'propose', content: { kind: 'dataset', cid, name, shardCount } }),
        }
      }
      throw new InvalidArgumentError(
        `r3mes tx propose takes 'param <name> <value>…' or 'dataset <cid> <name> <shardCount>', got '${kind ?? ''}'`,
      )
    }
    case 'vote': {
      arity(a, args, 2, 2, '<proposalId> yes|no|abstain')
      const proposalId = args[0] as string
      if (proposalId.length === 0 || proposalId.length > 32)
        throw new InvalidArgumentError(`the proposal id must be 1 to 32 characters, got '${proposalId}'`)
      const option = oneOf(args[1] as string, ['yes', 'no', 'abstain'] as const, 'the vote')
      return { summary: `vote ${option} on ${proposalId}`, build: () => ({ type: 'vote', proposalId, option }) }
    }
  }
}
