/// Target-label injection with Prometheus' `honor_labels: false` conflict handling. Internal.
enum ServiceLabeling {
    static let labelName = "service"

    /// Returns `labels` with `service="<service>"` added first.
    ///
    /// An existing non-empty `service` label keeps its position but is renamed to
    /// `exported_service`; if that name is already used by a non-empty label, the prefix is
    /// repeated (`exported_exported_service`, ...) exactly like Prometheus does. Empty label
    /// values mean "no label" in Prometheus, so an empty `service` label is dropped, and an
    /// empty label occupying the chosen `exported_…` name is replaced.
    static func labels(_ labels: [Label], service: String) -> [Label] {
        let injected = Label(name: labelName, value: service)
        guard let clash = labels.firstIndex(where: { $0.name == labelName }) else {
            return [injected] + labels
        }
        var exportedName = "exported_" + labelName
        while labels.contains(where: { $0.name == exportedName && !$0.value.isEmpty }) {
            exportedName = "exported_" + exportedName
        }
        var result = [injected]
        result.reserveCapacity(labels.count + 1)
        for (index, label) in labels.enumerated() {
            if index == clash {
                if !label.value.isEmpty {
                    result.append(Label(name: exportedName, value: label.value))
                }
            } else if label.name != exportedName {
                result.append(label)
            }
        }
        return result
    }
}
