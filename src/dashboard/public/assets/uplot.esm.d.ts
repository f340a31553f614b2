// Types of the vendored uPlot module (served from node_modules/uplot by serve.ts).
export { default } from 'uplot';
