/**
 * What a hot-path port method answers: the value itself when the adapter has it at once (an in-memory adapter),
 * or a promise of it (an adapter that does I/O). Callers `await` it either way; core skips the await when it can.
 */
export type Awaitable<T> = T | PromiseLike<T>;
