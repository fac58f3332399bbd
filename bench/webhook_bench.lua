-- wrk script: POSTs a realistic AdmissionReview (alice creates an AccessRequest, as the API
-- server sends it after the mutating webhook stamped spec.requester and sealed it) over
-- keep-alive TLS. The seal verifies with webhook_bench's fixed bench key; regenerate it with
--   build/bench/webhook_bench --seal-sample REVIEW.json   (REVIEW.json = the body below)
--   wrk -t2 -c16 -d20s --latency -s bench/webhook_bench.lua https://127.0.0.1:PORT/validate-accessrequest
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":{"group":"kubegrant.io","version":"v1alpha1","kind":"AccessRequest"},"resource":{"group":"kubegrant.io","version":"v1alpha1","resource":"accessrequests"},"requestKind":{"group":"kubegrant.io","version":"v1alpha1","kind":"AccessRequest"},"requestResource":{"group":"kubegrant.io","version":"v1alpha1","resource":"accessrequests"},"name":"debug-orders","namespace":"payments","operation":"CREATE","userInfo":{"username":"alice","uid":"","groups":["payments-devs","system:authenticated"],"extra":{}},"object":{"apiVersion":"kubegrant.io/v1alpha1","kind":"AccessRequest","metadata":{"name":"debug-orders","namespace":"payments","uid":"3f9c2a1b-0000-4000-8000-000000000001","creationTimestamp":null,"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"kubegrant.io/v1alpha1\",\"kind\":\"AccessRequest\",\"metadata\":{\"name\":\"debug-orders\",\"namespace\":\"payments\"},\"spec\":{\"databases\":[{\"profile\":\"readonly\",\"target\":\"orders-db\"}],\"duration\":\"2h\",\"policy\":\"payments-oncall\",\"reason\":\"orders stuck in pending\",\"roles\":[{\"kind\":\"ClusterRole\",\"name\":\"view\"}],\"ticket\":\"INC-4211\"}}\n"}},"spec":{"policy":"payments-oncall","duration":"2h","reason":"orders stuck in pending","ticket":"INC-4211","roles":[{"kind":"ClusterRole","name":"view","namespaces":["payments"]},{"kind":"Role","name":"pod-debugger"}],"databases":[{"target":"orders-db","profile":"readonly"}],"revoke":false,"requester":{"username":"alice","groups":["payments-devs","system:authenticated"]},"requesterSeal":"v1.bench.n6aP5Fsy97ACmVy2U_ZGmD4kPhytXtYKaPvmgtNjjdE"}},"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply","fieldValidation":"Strict"}}}]==]

done = function(summary, latency, requests)
  io.write(string.format("reviews/s %.0f  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
