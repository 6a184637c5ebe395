# packyard container image: the static binary on a distroless base, running as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/packyard ./cmd/packyard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/packyard /usr/local/bin/packyard
ENV PACKYARD_DATA_DIR=/var/lib/packyard
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/packyard"]
CMD ["serve"]
