package vlmclient

import (
	"context"

	"google.golang.org/protobuf/proto"

	vlmv1 "github.com/vlm-grpc/vlm-grpc/clients/go/gen/vlm/v1"
)

// FileDocument is a document uploaded with UploadFile.
func FileDocument(fileID string) *vlmv1.DocumentInput {
	return &vlmv1.DocumentInput{Source: &vlmv1.DocumentInput_FileId{FileId: fileID}}
}

// DataDocument is a document (PDF or a single image) sent inline.
func DataDocument(data []byte) *vlmv1.DocumentInput {
	return &vlmv1.DocumentInput{Source: &vlmv1.DocumentInput_Data{Data: data}}
}

// FileImage is an image uploaded with UploadFile.
func FileImage(fileID string) *vlmv1.ImageInput {
	return &vlmv1.ImageInput{Source: &vlmv1.ImageInput_FileId{FileId: fileID}}
}

// DataImage is an image (PNG, JPEG, ...) sent inline.
func DataImage(data []byte) *vlmv1.ImageInput {
	return &vlmv1.ImageInput{Source: &vlmv1.ImageInput_Data{Data: data}}
}

// SubmitDocument submits a prediction over a document in domain (e.g. "document.ocr") and returns it at
// once, accepted (batch): follow it with Watch or Wait. config may be nil (the API defaults).
func (c *Client) SubmitDocument(ctx context.Context, domain string, document *vlmv1.DocumentInput,
	config *vlmv1.GenerationConfig) (*vlmv1.Prediction, error) {
	reply, err := c.Documents.Generate(ctx, &vlmv1.DocumentServiceGenerateRequest{
		Domain: domain, Document: document, Config: config, Batch: proto.Bool(true)})
	if err != nil {
		return nil, fromError(err)
	}
	return reply.GetPrediction(), nil
}

// SubmitImages submits a prediction over images and returns it at once, accepted (batch; images would
// otherwise default to answering when terminal): follow it with Watch or Wait.
func (c *Client) SubmitImages(ctx context.Context, domain string, images []*vlmv1.ImageInput,
	config *vlmv1.GenerationConfig) (*vlmv1.Prediction, error) {
	reply, err := c.Images.Generate(ctx, &vlmv1.ImageServiceGenerateRequest{
		Domain: domain, Images: images, Config: config, Batch: proto.Bool(true)})
	if err != nil {
		return nil, fromError(err)
	}
	return reply.GetPrediction(), nil
}
