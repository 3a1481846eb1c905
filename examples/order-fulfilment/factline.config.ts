// What the factline command knows of the order app: `npx factline serve --config examples/order-fulfilment/factline.config.ts`
// (or, in the app's own folder, just `npx factline serve`) shows its streams with their state at
// each version, and can rebuild its projections.
import { defineConfig } from 'factline';
import { deciders, projections } from './app.js';

// A relative path is relative to this file: the store npm start makes, in the repository's data/.
export default defineConfig({ store: 'sqlite:../../data/order-fulfilment.db', deciders, projections });
