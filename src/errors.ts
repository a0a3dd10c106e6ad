/**
 * One error vocabulary for pfsim. Every error a user can see is a PfsimError with a stable
 * `code`; tests assert codes, the CLI prints `message` on one line and exits non-zero.
 */
export type PfsimErrorCode =
  | 'PFSIM_ERR_INPUT_READ'      // a file or directory could not be read
  | 'PFSIM_ERR_INPUT_PARSE'     // YAML/JSON syntax
  | 'PFSIM_ERR_MANIFEST'        // a Kubernetes object is malformed (names file, document, field)
  | 'PFSIM_ERR_FLOWS'           // a flows JSON line is malformed (names file, line, field)
  | 'PFSIM_ERR_USAGE'           // bad command-line arguments
  | 'PFSIM_ERR_NATIVE'          // the native addon failed to load or refused its input
  | 'PFSIM_ERR_COMPILE'         // the cluster cannot be compiled (limits exceeded)
  | 'PFSIM_ERR_CAPTURE'         // a capture file is malformed (names file and byte offset)
  | 'PFSIM_ERR_RESULTS'         // a results.json is malformed or of another version (names file and field path)
  | 'PFSIM_ERR_WORKER'          // a replay pool worker thread failed or exited
  | 'PFSIM_ERR_UNSUPPORTED';    // a feature this machine lacks (carries feature and minimum kernel)

export class PfsimError extends Error {
  readonly code: PfsimErrorCode;
  constructor(code: PfsimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PfsimError';
  }
}

/** Prefixes an error's message with the operation that failed, keeping its code. */
export function wrapError(op: string, err: unknown): PfsimError {
  if (err instanceof PfsimError) return new PfsimError(err.code, `${op}: ${err.message}`, { cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  return new PfsimError('PFSIM_ERR_NATIVE', `${op}: ${msg}`, { cause: err });
}

/**
 * Exit status when the reader of standard output went away (`pfsim … | head`): a Unix tool
 * would die of SIGPIPE there, which a shell reports as 128 + 13; pfsim stops as quietly.
 */
export const EXIT_BROKEN_PIPE = 128 + 13;
