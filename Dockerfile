# syntax=docker/dockerfile:1
# The guardrail container image: `docker build -t guardrail .` (docs/deploy.md).
#
# The builder is pinned by tag. Pin it by digest too when you build in your own pipeline
# (`docker buildx imagetools inspect rust:1.95-slim-bookworm` prints it); no digest is recorded
# here because none could be verified where this file was written.
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and the build directory between builds, so the binary
# is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --release --bin guardrail \
    && install -D -m 0755 target/release/guardrail /out/usr/local/bin/guardrail \
    && install -d -m 0700 /out/var/lib/guardrail

# cc-debian12: glibc, libgcc, CA certificates (https sources and receivers) and tzdata; no shell,
# no package manager. The `nonroot` variant runs as uid and gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/usr/local/bin/guardrail /usr/local/bin/guardrail
# The runtime has no shell to create the data directory with, and a VOLUME over a missing path
# would be owned by root; so it is made in the builder (0700: guardrail refuses a data directory
# open to group or others) and copied with the runtime user as owner.
COPY --from=builder --chown=65532:65532 /out/var/lib/guardrail /var/lib/guardrail
# The default configuration (the shipped policy library, no targets); mount your own over it.
COPY deploy/docker/guardrail.yaml /etc/guardrail/guardrail.yaml
COPY policies/ /etc/guardrail/policies/
# The distroless `nonroot` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8437
VOLUME /var/lib/guardrail
# The image has no curl: guardrail asks its own /healthz (exit 0 on 200, else 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/guardrail", "healthcheck", "--server", "http://127.0.0.1:8437"]
ENTRYPOINT ["/usr/local/bin/guardrail"]
CMD ["serve", "--config", "/etc/guardrail/guardrail.yaml", "--listen", "0.0.0.0:8437", "--data-dir", "/var/lib/guardrail"]
