// Worker bootstrap: module hooks registered on the main thread do not reach worker threads,
// so each worker registers tsx itself before loading the TypeScript worker body.
import { register } from 'tsx/esm/api';

register();
await import('./headWorker.ts');
