import { defineConfig } from 'vite'

// The page builds to packages/web/dist, which the local cloud serves at `/` (and CloudFront in AWS).
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
})
