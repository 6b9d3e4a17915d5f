import {
  DefaultPayloadConverter,
  type ConverterHint,
  type Payload,
  type PayloadConverter,
  type SerializationContext,
} from '@temporalio/common';
import { undecodable } from '../domain/payload.js';

/**
 * The workflow bundle's payload converter: the SDK's default, except that a payload it cannot
 * decode (an unknown encoding, broken JSON) becomes a marker value instead of an exception. The
 * SDK decodes a workflow's input before any workflow code runs; an exception there fails the
 * workflow task, which the server retries forever. With the marker, `parseInput` fails the run at
 * once (InvalidInput), and signal and Update handlers record it as a malformed payload.
 */
class TolerantPayloadConverter implements PayloadConverter {
  private readonly inner = new DefaultPayloadConverter();

  toPayload<T>(value: T, context?: SerializationContext, hint?: ConverterHint<T>): Payload {
    return this.inner.toPayload(value, context, hint);
  }

  fromPayload<T>(payload: Payload, context?: SerializationContext, hint?: ConverterHint<T>): T {
    try {
      return this.inner.fromPayload<T>(payload, context, hint);
    } catch (err) {
      return undecodable((err as Error).message) as T;
    }
  }
}

export const payloadConverter = new TolerantPayloadConverter();
