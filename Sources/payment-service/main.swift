import PaymentService
import ServiceKit

await ServiceHost.main(PaymentService.self)
