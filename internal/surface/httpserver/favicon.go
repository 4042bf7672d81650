package httpserver

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"sync"
)

// favicon is the icon browsers ask every origin for (/favicon.ico), which
// would otherwise be a 404 in the console of every page the server
// serves: a 32×32 rounded square in Ottr's brown, as an ICO holding one
// PNG image (read by every browser since 2009).
var favicon = sync.OnceValue(func() []byte {
	const size = 32
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	brown := color.NRGBA{R: 0x8b, G: 0x5a, B: 0x2b, A: 0xff}
	for y := range size {
		for x := range size {
			// Cut the corners: a 4-pixel radius.
			dx, dy := min(x, size-1-x), min(y, size-1-y)
			if dx < 4 && dy < 4 && (4-dx)*(4-dx)+(4-dy)*(4-dy) > 16 {
				continue
			}
			img.SetNRGBA(x, y, brown)
		}
	}
	var pngData bytes.Buffer
	_ = png.Encode(&pngData, img) // an in-memory image always encodes
	var ico bytes.Buffer
	// ICONDIR: reserved, type 1 (icon), one image.
	_ = binary.Write(&ico, binary.LittleEndian, [3]uint16{0, 1, 1})
	// ICONDIRENTRY: width, height, colours, reserved, planes, bits per
	// pixel, the image's size and its offset (after the 6+16 header bytes).
	ico.Write([]byte{size, size, 0, 0})
	_ = binary.Write(&ico, binary.LittleEndian, [2]uint16{1, 32})
	_ = binary.Write(&ico, binary.LittleEndian, [2]uint32{uint32(pngData.Len()), 6 + 16})
	ico.Write(pngData.Bytes())
	return ico.Bytes()
})

func serveFavicon(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "image/x-icon")
	h.Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(favicon())
}
