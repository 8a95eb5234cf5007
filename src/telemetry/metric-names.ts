/**
 * Every metric name mcpwatch exports. Prometheus naming: `mcpwatch_` prefix, base units, `_total` for
 * counters; labels from the bounded set in DESIGN.md.
 */
export const METRIC = {
  receiverAcceptedSpans: 'mcpwatch_receiver_accepted_spans_total',
  receiverRefusedSpans: 'mcpwatch_receiver_refused_spans_total',
  receiverRequests: 'mcpwatch_receiver_requests_total',
  receiverRequestDuration: 'mcpwatch_receiver_request_duration_seconds',
  receiverInflightRequests: 'mcpwatch_receiver_inflight_requests',
  receiverInflightBytes: 'mcpwatch_receiver_inflight_bytes',
  receiverRequestBytes: 'mcpwatch_receiver_request_body_bytes_total',
  queueAccepted: 'mcpwatch_queue_accepted_total',
  queueRefused: 'mcpwatch_queue_refused_total',
  queueDropped: 'mcpwatch_queue_dropped_total',
  queueSize: 'mcpwatch_queue_size',
  queueCapacity: 'mcpwatch_queue_capacity',
  normalizedEvents: 'mcpwatch_normalized_events_total',
  nonMcpSpans: 'mcpwatch_non_mcp_spans_total',
  storeItems: 'mcpwatch_store_items',
  storeBytes: 'mcpwatch_store_bytes',
  storeEvictions: 'mcpwatch_store_evictions_total',
  adminRequests: 'mcpwatch_admin_requests_total',
  eventLoopLag: 'mcpwatch_event_loop_lag_seconds',
  buildInfo: 'mcpwatch_build_info',
  up: 'mcpwatch_up',
  alertsFired: 'mcpwatch_alerts_fired_total',
  alertsSuppressed: 'mcpwatch_alerts_suppressed_total',
  alertsActive: 'mcpwatch_alerts_active',
  alertNotifications: 'mcpwatch_alert_notifications_total',
  alertDeliveries: 'mcpwatch_alert_deliveries_total',
  alertDeliveryLatency: 'mcpwatch_alert_delivery_latency_seconds',
  alertDeadLetters: 'mcpwatch_alert_dead_letters',
  alertOutboxJobs: 'mcpwatch_alert_outbox_jobs',
  detectorEvents: 'mcpwatch_detector_events_total',
  detectorErrors: 'mcpwatch_detector_errors_total',
  detectorExceptions: 'mcpwatch_detector_exceptions_total',
  detectorStateEvictions: 'mcpwatch_detector_state_evictions_total',
  detectorEntities: 'mcpwatch_detector_entities',
  detectorStatePersists: 'mcpwatch_detector_state_persists_total',
  hostServers: 'mcpwatch_host_servers',
  hostEvents: 'mcpwatch_host_events_total',
  hostDroppedEvents: 'mcpwatch_host_dropped_events_total',
  hostSampleDuration: 'mcpwatch_host_sample_duration_seconds',
  hostProcReadErrors: 'mcpwatch_host_proc_read_errors_total',
  hostTrackedItems: 'mcpwatch_host_tracked_items',
  fileUnwatchedPaths: 'mcpwatch_file_unwatched_paths',
} as const;

/**
 * Buckets of the semconv `mcp.server.operation.duration` histogram, in seconds; reused for request
 * durations so server-side MCP and mcpwatch's own latencies line up on one dashboard.
 */
export const MCP_DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
