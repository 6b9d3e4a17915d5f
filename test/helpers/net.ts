export { freePort } from '../../src/net.js';
