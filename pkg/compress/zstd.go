package compress

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdChunkSize is part of the output format for zstd with Jobs > 1: the
// input is cut into chunks of exactly this many bytes (the last one shorter)
// and each chunk becomes one independent zstd frame. Changing it changes every
// parallel-zstd layer digest. Measured on 400 MB of the benchmark tree's tar
// (bench/layer) at level 2 on 2 cores, chunks of 1, 2, 4 and 8 MiB all ran in
// about the same time, with output 1.6%, 0.9%, 0.44% and 0.27% larger than
// one frame: 4 MiB keeps most of the ratio at half the buffers of 8 MiB.
const zstdChunkSize = 4 << 20

// zstdMaxFrame bounds one chunk's frame: incompressible input is stored in
// raw blocks of at most 128 KiB with a 3-byte header each, plus the frame
// header and checksum. Output buffers get this capacity so they never grow.
const zstdMaxFrame = zstdChunkSize + (zstdChunkSize/(128<<10)+1)*3 + 64

// zstdOptions are the encoder options shared by the single-frame (Jobs == 1)
// and the chunked (Jobs > 1) writers. Every frame, in both modes, is written
// by the streaming encoder and so has the same header shape: a content
// checksum (XXH64, WithEncoderCRC) and no content size, because a stream's
// size is unknown when its header is written. Keeping the chunked frames in
// the streaming shape (rather than EncodeAll's, which records the size) means
// an input of at most one chunk gives the same bytes with any Jobs.
//
// lowMem only sizes the encoder's buffers (history of window + one block
// instead of twice the window); it does not change the bytes, which
// TestZstdSmallInputSameForAllJobs checks. The chunked writer uses it because
// a frame never needs more history than one chunk.
func zstdOptions(level zstd.EncoderLevel, concurrency int, lowMem bool) []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(true),
		zstd.WithLowerEncoderMem(lowMem),
	}
}

// zstdChunked compresses fixed-size chunks of its input as independent zstd
// frames on a pool of workers and writes the frames in input order. A
// concatenation of frames is one valid zstd stream (RFC 8878, section 3.1), so
// every decoder reads it as the whole input. The bytes depend only on the
// level and zstdChunkSize, never on the number of workers or on timing.
//
// Memory: at most jobs+1 chunks are in flight (jobs queued, compressing or
// being written, one being filled), each with its input and output buffer,
// plus one encoder per worker (about one chunk of history and its tables).
type zstdChunked struct {
	w     io.Writer
	buf   []byte             // chunk being filled
	work  chan *zstdJob      // to the workers
	order chan *zstdJob      // to the writer goroutine, in input order
	free  chan []byte        // recycled input buffers
	outs  chan *bytes.Buffer // recycled output buffers
	wg    sync.WaitGroup
	done  chan struct{} // closed when the writer goroutine returns
	sent  bool          // at least one chunk was submitted

	mu  sync.Mutex
	err error // first error from w or an encoder
}

type zstdJob struct {
	in   []byte
	out  *bytes.Buffer
	err  error
	done chan struct{}
}

func newZstdChunked(w io.Writer, level zstd.EncoderLevel, jobs int) (*zstdChunked, error) {
	// Fail early on bad options rather than in a worker.
	if _, err := zstd.NewWriter(nil, zstdOptions(level, 1, true)...); err != nil {
		return nil, err
	}
	z := &zstdChunked{
		w:     w,
		work:  make(chan *zstdJob, jobs),
		order: make(chan *zstdJob, jobs-1),
		free:  make(chan []byte, jobs+2),
		outs:  make(chan *bytes.Buffer, jobs+2),
		done:  make(chan struct{}),
	}
	z.buf = z.getBuf()
	z.wg.Add(jobs)
	for range jobs {
		go z.worker(level)
	}
	go z.writer()
	return z, nil
}

func (z *zstdChunked) getBuf() []byte {
	select {
	case b := <-z.free:
		return b[:0]
	default:
		return make([]byte, 0, zstdChunkSize)
	}
}

func (z *zstdChunked) worker(level zstd.EncoderLevel) {
	defer z.wg.Done()
	enc, err := zstd.NewWriter(nil, zstdOptions(level, 1, true)...)
	for j := range z.work {
		if err != nil {
			j.err = err
		} else {
			enc.Reset(j.out)
			if _, j.err = enc.Write(j.in); j.err == nil {
				j.err = enc.Close()
			}
		}
		close(j.done)
	}
	if enc != nil {
		enc.Close()
	}
}

func (z *zstdChunked) writer() {
	defer close(z.done)
	for j := range z.order {
		<-j.done
		err := j.err
		if err == nil && z.firstErr() == nil {
			_, err = z.w.Write(j.out.Bytes())
		}
		if err != nil {
			z.setErr(err)
		}
		select {
		case z.free <- j.in:
		default:
		}
		j.out.Reset()
		select {
		case z.outs <- j.out:
		default:
		}
	}
}

func (z *zstdChunked) firstErr() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

func (z *zstdChunked) setErr(err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.err == nil {
		z.err = err
	}
}

func (z *zstdChunked) submit() {
	j := &zstdJob{in: z.buf, done: make(chan struct{})}
	select {
	case j.out = <-z.outs:
	default:
		j.out = bytes.NewBuffer(make([]byte, 0, zstdMaxFrame))
	}
	z.sent = true
	z.order <- j // blocks while jobs chunks are pending: bounds memory
	z.work <- j
	z.buf = z.getBuf()
}

func (z *zstdChunked) Write(p []byte) (int, error) {
	if err := z.firstErr(); err != nil {
		return 0, err
	}
	if z.order == nil {
		return 0, errors.New("zstd: write after close")
	}
	n := len(p)
	for len(p) > 0 {
		m := copy(z.buf[len(z.buf):zstdChunkSize], p)
		z.buf = z.buf[:len(z.buf)+m]
		p = p[m:]
		if len(z.buf) == zstdChunkSize {
			z.submit()
		}
	}
	return n, nil
}

// Close compresses the last partial chunk, waits for every frame to be
// written and stops the workers. An empty input still gets one (empty) frame,
// as with the single-frame writer.
func (z *zstdChunked) Close() error {
	if z.order == nil {
		return z.firstErr()
	}
	if len(z.buf) > 0 || !z.sent {
		z.submit()
	}
	close(z.order)
	close(z.work)
	<-z.done
	z.wg.Wait()
	z.order = nil
	return z.firstErr()
}
