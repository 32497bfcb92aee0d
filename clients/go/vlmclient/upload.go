package vlmclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

// ChunkSize is the size of the upload chunks (the API suggests up to 1 MiB).
const ChunkSize = 1 << 20

// UploadFile streams r to FileService.UploadFile: first the metadata (name, size, SHA-256, content type),
// then the bytes in ChunkSize chunks. r is read twice (once to hash it, since the checksum goes first),
// so a large file is never held in memory.
func (c *Client) UploadFile(ctx context.Context, filename, contentType string, r io.ReadSeeker) (*vlmv1.File, error) {
	metadata, err := uploadMetadata(filename, contentType, r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx) // ends the call if reading r fails half-way
	defer cancel()
	stream, err := c.Files.UploadFile(ctx)
	if err != nil {
		return nil, fromError(err)
	}
	err = sendUpload(metadata, r, stream.Send)
	if err != nil && err != io.EOF { // io.EOF: the server ended the call; CloseAndRecv says why
		return nil, fromError(err)
	}
	reply, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fromError(err)
	}
	return reply.GetFile(), nil
}

// UploadBytes uploads data held in memory.
func (c *Client) UploadBytes(ctx context.Context, filename, contentType string, data []byte) (*vlmv1.File, error) {
	return c.UploadFile(ctx, filename, contentType, bytes.NewReader(data))
}

// uploadMetadata hashes r to its end and rewinds it.
func uploadMetadata(filename, contentType string, r io.ReadSeeker) (*vlmv1.UploadFileMetadata, error) {
	hash := sha256.New()
	size, err := io.Copy(hash, r)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return &vlmv1.UploadFileMetadata{Filename: filename, SizeBytes: size,
		Sha256: hex.EncodeToString(hash.Sum(nil)), ContentType: contentType}, nil
}

// sendUpload sends the metadata message, then r's bytes as chunk messages.
func sendUpload(metadata *vlmv1.UploadFileMetadata, r io.Reader, send func(*vlmv1.UploadFileRequest) error) error {
	err := send(&vlmv1.UploadFileRequest{Content: &vlmv1.UploadFileRequest_Metadata{Metadata: metadata}})
	if err != nil {
		return err
	}
	buf := make([]byte, ChunkSize) // reused: Send has serialised the message when it returns
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if err := send(&vlmv1.UploadFileRequest{Content: &vlmv1.UploadFileRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return err
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
