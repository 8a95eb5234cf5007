import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import {
  RpcCode,
  encodeExportResponseJson,
  encodeExportResponseProtobuf,
  encodeStatusJson,
  encodeStatusProtobuf,
} from '../../src/receiver/otlp/encode-response.js';

describe('ExportTraceServiceResponse encoding', () => {
  it('is an empty protobuf body and {} in JSON on full success', () => {
    expect(encodeExportResponseProtobuf()).toEqual(new Uint8Array(0));
    expect(encodeExportResponseProtobuf({ rejectedSpans: 0, errorMessage: '' })).toEqual(new Uint8Array(0));
    expect(encodeExportResponseJson()).toBe('{}');
  });

  it('encodes partial success so the official protobuf client reads it back', () => {
    const body = encodeExportResponseProtobuf({ rejectedSpans: 3, errorMessage: 'span 0: trace_id must be 16 bytes, got 0' });
    const decoded = ProtobufTraceSerializer.deserializeResponse(body);
    expect(Number(decoded.partialSuccess?.rejectedSpans)).toBe(3);
    expect(decoded.partialSuccess?.errorMessage).toBe('span 0: trace_id must be 16 bytes, got 0');
  });

  it('encodes rejected_spans as int64 field 1 and error_message as field 2 byte for byte', () => {
    // 0x0a len { 0x08 0x96 0x01 (150), 0x12 0x02 'h' 'i' }
    expect(Array.from(encodeExportResponseProtobuf({ rejectedSpans: 150, errorMessage: 'hi' }))).toEqual([
      0x0a, 0x07, 0x08, 0x96, 0x01, 0x12, 0x02, 0x68, 0x69,
    ]);
  });

  it('writes int64 rejectedSpans as a JSON string, as the proto3 JSON mapping requires', () => {
    const text = encodeExportResponseJson({ rejectedSpans: 3, errorMessage: 'bad ids' });
    expect(JSON.parse(text)).toEqual({ partialSuccess: { rejectedSpans: '3', errorMessage: 'bad ids' } });
    const decoded = JsonTraceSerializer.deserializeResponse(new TextEncoder().encode(text));
    expect(decoded.partialSuccess?.errorMessage).toBe('bad ids');
  });

  it('keeps a warning message with zero rejected spans', () => {
    expect(JSON.parse(encodeExportResponseJson({ rejectedSpans: 0, errorMessage: 'warning' }))).toEqual({
      partialSuccess: { errorMessage: 'warning' },
    });
    expect(Array.from(encodeExportResponseProtobuf({ rejectedSpans: 0, errorMessage: 'w' }))).toEqual([0x0a, 0x03, 0x12, 0x01, 0x77]);
  });
});

describe('google.rpc.Status encoding', () => {
  it('encodes code (field 1) and UTF-8 message (field 2)', () => {
    expect(Array.from(encodeStatusProtobuf(RpcCode.invalidArgument, 'é'))).toEqual([0x08, 0x03, 0x12, 0x02, 0xc3, 0xa9]);
  });

  it('encodes a negative int32 code as a 10-byte varint', () => {
    const body = encodeStatusProtobuf(-1, '');
    expect(Array.from(body)).toEqual([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  });

  it('writes code as a JSON number', () => {
    expect(JSON.parse(encodeStatusJson(RpcCode.resourceExhausted, 'too big'))).toEqual({ code: 8, message: 'too big' });
  });
});
