package compress

import (
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
// and the chunked (Jobs > 1) writers. Every frame has a content checksum
// (XXH64, WithEncoderCRC). A chunk is compressed whole by EncodeAll, whose
// frames also record the content size; only an input longer than one chunk
// with Jobs == 1 goes through the streaming encoder, whose single frame has
// no size (it is unknown when the header is written). So an input of at most
// one chunk gives the same bytes with any Jobs: it is one EncodeAll frame.
// EncodeAll compresses a 4 MiB chunk in about 0.64 of the time the streaming
// encoder takes, to the same size, because it reads the input in place
// instead of copying it through a history buffer (bench/layer).
//
// WithZeroFrames makes an empty input one empty frame, as the streaming
// encoder writes it, rather than no bytes at all. lowMem only sizes the
// encoder's buffers (history of window + one block instead of twice the
// window); it does not change the bytes.
func zstdOptions(level zstd.EncoderLevel, concurrency int, lowMem bool) []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(true),
		zstd.WithLowerEncoderMem(lowMem),
		zstd.WithZeroFrames(true),
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
	buf   []byte        // chunk being filled
	work  chan *zstdJob // to the workers
	order chan *zstdJob // to the writer goroutine, in input order
	free  chan []byte   // recycled input buffers
	outs  chan []byte   // recycled output buffers
	wg    sync.WaitGroup
	done  chan struct{} // closed when the writer goroutine returns
	sent  bool          // at least one chunk was submitted

	mu  sync.Mutex
	err error // first error from w or an encoder
}

type zstdJob struct {
	in   []byte
	out  []byte
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
		outs:  make(chan []byte, jobs+2),
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
			j.out = enc.EncodeAll(j.in, j.out[:0])
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
			_, err = z.w.Write(j.out)
		}
		if err != nil {
			z.setErr(err)
		}
		select {
		case z.free <- j.in:
		default:
		}
		select {
		case z.outs <- j.out[:0]:
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
		j.out = make([]byte, 0, zstdMaxFrame)
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

// zstdSingle is the Jobs == 1 writer. It holds back the first chunk: an input
// that ends within it becomes the one EncodeAll frame the chunked writer
// would write; a longer one goes through the streaming encoder as one frame.
type zstdSingle struct {
	w      io.Writer
	level  zstd.EncoderLevel
	buf    []byte
	stream *zstd.Encoder
}

func newZstdSingle(w io.Writer, level zstd.EncoderLevel) (*zstdSingle, error) {
	if _, err := zstd.NewWriter(nil, zstdOptions(level, 1, true)...); err != nil {
		return nil, err
	}
	return &zstdSingle{w: w, level: level}, nil
}

func (z *zstdSingle) Write(p []byte) (int, error) {
	if z.stream != nil {
		return z.stream.Write(p)
	}
	if len(z.buf)+len(p) <= zstdChunkSize {
		if z.buf == nil {
			z.buf = make([]byte, 0, zstdChunkSize)
		}
		z.buf = append(z.buf, p...)
		return len(p), nil
	}
	enc, err := zstd.NewWriter(z.w, zstdOptions(z.level, 1, false)...)
	if err != nil {
		return 0, err
	}
	z.stream = enc
	if _, err := enc.Write(z.buf); err != nil {
		return 0, err
	}
	z.buf = nil
	return enc.Write(p)
}

func (z *zstdSingle) Close() error {
	if z.stream != nil {
		return z.stream.Close()
	}
	enc, err := zstd.NewWriter(nil, zstdOptions(z.level, 1, true)...)
	if err != nil {
		return err
	}
	defer enc.Close()
	_, err = z.w.Write(enc.EncodeAll(z.buf, nil))
	z.buf = nil
	return err
}

// zstdLongWindow is zstd-long's window, part of its output format.
const zstdLongWindow = 128 << 20

// newZstdLong writes one frame with a long window through the streaming
// encoder. jobs does not apply: parallel frames could not share the window.
func newZstdLong(w io.Writer, level, _ int) (io.WriteCloser, error) {
	if level == -1 {
		level = len(zstdLevels) - 1
	}
	opts := append(zstdOptions(zstdLevel(level), 1, false), zstd.WithWindowSize(zstdLongWindow))
	return zstd.NewWriter(w, opts...)
}
