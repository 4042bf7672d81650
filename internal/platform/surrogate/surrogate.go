// Package surrogate finds escaped UTF-16 surrogates that pair with nothing
// in JSON and GraphQL text. Both languages write a character outside the
// Basic Multilingual Plane as an escaped pair (\ud83d\ude00); one half
// alone names no character, and Go's decoders (encoding/json, gqlparser)
// replace it with U+FFFD, which would then be stored in place of what the
// client sent. The scanners look at the text as sent, before decoding, in
// one pass.
package surrogate

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ottr/backend/internal/platform/apperr"
)

// InJSON returns the byte offset of the first escaped lone surrogate in
// the JSON text data, or -1. In JSON a backslash occurs only inside
// strings, so every escape is one; an escaped backslash (\\) followed by
// "ud800" is text, not an escape.
func InJSON[T ~string | ~[]byte](data T) int {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		if i+1 < len(data) && data[i+1] == 'u' {
			lone, width := escape(data, i)
			if lone {
				return i
			}
			i += width - 1
			continue
		}
		i++ // the escaped character, a backslash perhaps
	}
	return -1
}

// InGraphQL returns the byte offset of the first escaped lone surrogate in
// a string value of the GraphQL document src, or -1. Comments and block
// strings, where a backslash escapes nothing, are skipped.
func InGraphQL(src string) int {
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '#':
			end := strings.IndexAny(src[i:], "\r\n")
			if end < 0 {
				return -1
			}
			i += end
		case '"':
			if strings.HasPrefix(src[i:], `"""`) {
				i = blockStringEnd(src, i+3)
				continue
			}
			for i++; i < len(src) && src[i] != '"' && src[i] != '\n' && src[i] != '\r'; i++ {
				if src[i] != '\\' || i+1 >= len(src) {
					continue
				}
				if src[i+1] != 'u' {
					i++
					continue
				}
				lone, width := escape(src, i)
				if lone {
					return i
				}
				i += width - 1
			}
		}
	}
	return -1
}

// blockStringEnd returns the offset of the last quote of the block string
// whose text starts at i, or len(src)-1 when it does not end.
func blockStringEnd(src string, i int) int {
	for i < len(src) {
		j := strings.Index(src[i:], `"""`)
		if j < 0 {
			return len(src) - 1
		}
		i += j
		if src[i-1] != '\\' {
			// A run of more than three quotes ends with its last three.
			for i+3 < len(src) && src[i+3] == '"' {
				i++
			}
			return i + 2
		}
		i += 3 // \""" is an escaped triple quote
	}
	return len(src) - 1
}

// escape reads the \u escape at data[i:]: lone reports a surrogate that
// pairs with nothing, width the bytes the escape (or pair) takes. An
// escape that is not four hex digits is left to the decoder to refuse.
func escape[T ~string | ~[]byte](data T, i int) (lone bool, width int) {
	r, ok := hex4(data, i+2)
	switch {
	case !ok:
		return false, 2
	case r >= 0xDC00 && r <= 0xDFFF:
		return true, 6
	case r >= 0xD800 && r <= 0xDBFF:
		if i+7 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
			if r2, ok := hex4(data, i+8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
				return false, 12
			}
		}
		return true, 6
	}
	return false, 6
}

func hex4[T ~string | ~[]byte](data T, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for k := range 4 {
		c := data[i+k]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Find looks for an escaped lone surrogate in the JSON text data and
// returns the path of the string that holds it, as in
// variables.input.actions[0].label ("" for a string at the top).
func Find(data []byte) (path string, found bool) {
	off := InJSON(data)
	if off < 0 {
		return "", false
	}
	return pathAt(data, off), true
}

// pathAt returns the path of the string (a value, or a key) of data that
// holds the byte at off. It decodes the document token by token: it runs
// only once a lone surrogate was found.
func pathAt(data []byte, off int) string {
	type level struct {
		array     bool
		index     int
		key       string
		expectKey bool
	}
	var stack []level
	render := func(last string) string {
		var b strings.Builder
		for i, l := range stack {
			switch {
			case l.array:
				b.WriteString("[" + strconv.Itoa(l.index) + "]")
			case i == len(stack)-1 && l.expectKey:
				// the key itself holds it
			default:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			}
		}
		if last != "" {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(last)
		}
		return b.String()
	}
	advance := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].expectKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return render("")
		}
		end := int(dec.InputOffset())
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{expectKey: true})
			case '[':
				stack = append(stack, level{array: true})
			default:
				stack = stack[:len(stack)-1]
				advance()
			}
			continue
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].expectKey {
				if off < end {
					return render(t)
				}
				stack[n-1].key, stack[n-1].expectKey = t, false
				continue
			}
			if off < end {
				return render("")
			}
		}
		advance()
	}
}

// Refusal is the BAD_USER_INPUT error a GraphQL client is told of a lone
// surrogate found at path in its request (the request's JSON, as the HTTP
// body holds it): extensions.field names a variable's path for the
// variables.
func Refusal(path string) *apperr.Error {
	if rest, ok := strings.CutPrefix(path, "variables."); ok {
		return apperr.TextLoneSurrogate.Refusal(rest, "variable $"+rest)
	}
	if path == "" {
		return apperr.TextLoneSurrogate.Refusal("", "the request")
	}
	return apperr.TextLoneSurrogate.Refusal(path, "")
}
