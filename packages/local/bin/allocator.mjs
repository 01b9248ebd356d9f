// glibc's allocator settings `npm start` runs the pipeline with (start.mjs): two arenas, mmap for
// every block over 128 KB, trimming past 128 KB free, so that memory the threads freed goes back.
export const allocator = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' }
